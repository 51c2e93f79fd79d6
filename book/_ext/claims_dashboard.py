"""Sphinx extension: the ``claims-dashboard`` and ``paper-scale-runs`` directives.

The table is filled in at ``doctree-resolved`` time, after every chapter has been read (and so
executed), from the JSON verdict records. The page is re-read on every build so that it never
shows an old table. Notebooks executed by the build inherit ``$WDC_RECORD_DIR``, which this
extension sets (default ``_build/verdicts``) when it is not already set.

Each dashboard row states the claim in words; its verdict (``partial`` where the registry declares
a part reported only or contradicted, or where the archived paper-scale run failed, with a sentence
for each part); its status at both scales with the worst error against its tolerance; and its
chapter. The layout (no clipped column at 1280 px, one block per claim on a phone) is in
``static/wdcompanion.css``, added by ``page_fixes``. ``paper-scale-runs`` lists the archived
paper-scale records of ``book/_generated/paper-scale`` (see ``scripts/paper_runs.py``), with the
commit and machine that computed each.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.util.docutils import SphinxDirective

from wdcompanion.claims import CLAIMS, read_records
from wdcompanion.claims.dashboard import ScaleStatus, archived_rows, dashboard_rows, summary
from wdcompanion.claims.records import RECORD_DIR_ENV, claim_files, claim_fingerprints

HEADERS = ("Claim (and its chapter)", "Verdict", "Small scale (this build)", "Paper scale (archived)")
ARCHIVE_HEADERS = ("Claim", "Status", "Closest to its tolerance", "Runtime", "Computed by")
ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "book" / "_generated" / "paper-scale"


def _code_files_changed_since(commit: str, claim_id: str) -> list[str] | None:
    """The files of the claim's code (its module and what that imports) that differ between ``commit`` and this checkout.

    ``None`` without git."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "diff", "--name-only", commit, "--", "wdcompanion"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    code = claim_files(CLAIMS[claim_id])
    return sorted(name.removeprefix("wdcompanion/") for name in out.split() if name.removeprefix("wdcompanion/") in code)


class dashboard_placeholder(nodes.General, nodes.Element):  # noqa: N801 (docutils naming)
    pass


class archive_placeholder(nodes.General, nodes.Element):  # noqa: N801 (docutils naming)
    pass


class _RereadDirective(SphinxDirective):
    """A table filled in after reading; its page is re-read on every build."""

    has_content = False
    placeholder: type[nodes.Element]

    def run(self):
        if not hasattr(self.env, "wdc_dashboard_docs"):
            self.env.wdc_dashboard_docs = set()
        self.env.wdc_dashboard_docs.add(self.env.docname)
        return [self.placeholder()]


class ClaimsDashboard(_RereadDirective):
    placeholder = dashboard_placeholder


class PaperScaleRuns(_RereadDirective):
    placeholder = archive_placeholder


def _set_record_dir(app) -> None:
    if not os.environ.get(RECORD_DIR_ENV):
        os.environ[RECORD_DIR_ENV] = str(Path(app.confdir) / "_build" / "verdicts")


def _always_reread(app, env, added, changed, removed):
    """Pages with a dashboard, and the claims' chapters (their status box), are re-read on every build:
    what they show depends on the records."""
    chapters = {claim.chapter for claim in CLAIMS.values()}
    return sorted((getattr(env, "wdc_dashboard_docs", set()) | chapters) & env.found_docs)


def _purge(app, env, docname):
    getattr(env, "wdc_dashboard_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    env.wdc_dashboard_docs = getattr(env, "wdc_dashboard_docs", set()) | getattr(other, "wdc_dashboard_docs", set())


def _cell(*content, label: str = "") -> nodes.entry:
    """A table cell of paragraphs (strings or inline nodes); ``label`` shows only in the narrow layout."""
    entry = nodes.entry()
    for index, item in enumerate(content):
        paragraph = nodes.paragraph()
        if index == 0 and label:
            paragraph += nodes.inline(text=f"{label}: ", classes=["wdc-label"])
        paragraph += item if isinstance(item, nodes.Node) else nodes.Text(str(item))
        entry += paragraph
    return entry


def _detail(text: str) -> nodes.inline:
    return nodes.inline(text=text, classes=["wdc-detail"])


def _notes_row(notes: tuple[str, ...], columns: int) -> nodes.row:
    """A row with one cell across ``columns`` columns: the record's notes, one list item each."""
    entry = nodes.entry(morecols=columns - 1, classes=["wdc-notes"])
    entry += nodes.paragraph(text="Notes of this record:", classes=["wdc-detail"])
    items = nodes.bullet_list()
    for note in notes:
        item = nodes.list_item()
        item += nodes.paragraph(text=note, classes=["wdc-detail"])
        items += item
    entry += items
    row = nodes.row(classes=["wdc-notes-row"])
    row += entry
    return row


def _table(classes: str, headers: tuple[str, ...], widths: tuple[int, ...]) -> tuple[nodes.table, nodes.tbody]:
    # "colwidths-given": write the column widths; "longtable": the PDF breaks the table across pages
    table = nodes.table(classes=[classes, "colwidths-given", "longtable"])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    header = nodes.row()
    for title in headers:
        header += _cell(title)
    head += header
    group += head
    body = nodes.tbody()
    group += body
    return table, body


def _fill(app, doctree, docname) -> None:
    _fill_dashboard(app, doctree, docname)
    _fill_archive(doctree)
    if app.builder.format == "latex":  # one resolved tree for the whole book: each page is a start_of_file node
        for page in list(doctree.findall(addnodes.start_of_file)):
            _chapter_box(app, page, page["docname"])
    else:
        _chapter_box(app, doctree, docname)


def _rows():
    return dashboard_rows(CLAIMS, read_records(Path(os.environ[RECORD_DIR_ENV])), claim_fingerprints(),
                          read_records(ARCHIVE))


def _chapter_box(app, doctree, docname) -> None:
    """At the top of a claim's chapter: its verdict at both scales, the runtime and the commands that rerun it."""
    row = next((r for r in _rows() if r.chapter == docname), None)
    sections = list(doctree.findall(nodes.section))
    if row is None or not sections:
        return
    box = nodes.container(classes=["wdc-claim-status", f"claim-verdict-{_slug(row.verdict)}"])
    head = nodes.paragraph()
    head += nodes.strong(text=f"Verdict: {row.verdict}. ")
    small = row.small
    head += nodes.Text(f"Small scale, this build: {small.status}"
                       + (f" (worst error vs tolerance {small.error_vs_tolerance}; runtime {small.runtime})" if small.runtime
                          else f" ({small.detail})") + ". ")
    paper = row.paper_scale
    head += nodes.Text(f"Paper scale: {paper.status}" + (f", {paper.detail}" if paper.detail else "")
                       + (f" (runtime {paper.runtime})" if paper.runtime else "") + ". ")
    if app.builder.format == "latex":
        head += nodes.Text("All claims: the claims dashboard.")
    else:
        head += nodes.reference("", "All claims", internal=True, refuri=app.builder.get_relative_uri(docname, "book/claims"))
        head += nodes.Text(".")
    box += head
    for part in row.parts:
        line = nodes.paragraph(classes=["wdc-part"])
        line += nodes.emphasis(text=f"Partial ({part.kind}): ")
        line += nodes.Text(f"{part.part}. {part.reason}")
        box += line
    rerun = nodes.paragraph()
    rerun += nodes.Text("Rerun: ")
    rerun += nodes.literal(text=f"wdc check {row.claim_id}")
    rerun += nodes.Text(" (small scale), ")
    rerun += nodes.literal(text=f"wdc check {row.claim_id} --scale paper")
    rerun += nodes.Text(" (paper scale).")
    box += rerun
    first = sections[0]
    titles = [i for i, child in enumerate(first.children) if isinstance(child, nodes.title)]
    first.insert(titles[0] + 1 if titles else 0, box)


def _slug(text: str) -> str:
    return text.replace(" ", "-")


def _scale_cell(status: ScaleStatus, label: str) -> nodes.entry:
    content: list = [nodes.strong(text=status.status)]
    if status.detail:
        content.append(_detail(status.detail))
    if status.error_vs_tolerance:
        content.append(_detail(f"worst: {status.error_vs_tolerance}" + (f", {status.runtime}" if status.runtime else "")))
        content.append(_detail(f"({status.compared})"))
    return _cell(*content, label=label)


def _fill_dashboard(app, doctree, docname) -> None:
    placeholders = list(doctree.findall(dashboard_placeholder))
    if not placeholders:
        return
    rows = _rows()
    table, body = _table("claims-dashboard", HEADERS, (36, 26, 18, 20))
    for row in rows:
        tr = nodes.row(classes=[f"claim-verdict-{_slug(row.verdict)}", f"claim-small-{_slug(row.small.status)}",
                                f"claim-paper-{_slug(row.paper_scale.status)}"], ids=[f"claim-{row.claim_id}"])
        title = app.env.titles[row.chapter].astext() if row.chapter in app.env.titles else row.chapter
        chapter = nodes.inline(classes=["wdc-detail"])
        chapter += nodes.Text("Chapter: ")
        chapter += nodes.reference("", title, internal=True, refuri=app.builder.get_relative_uri(docname, row.chapter))
        tr += _cell(nodes.literal(text=row.claim_id), row.statement, _detail(f"{row.paper}, {row.location}"), chapter)
        verdict: list = [nodes.strong(text=row.verdict, classes=[f"wdc-verdict-{_slug(row.verdict)}"])]
        for part in row.parts:
            line = nodes.inline(classes=["wdc-part", f"wdc-part-{_slug(part.kind)}"])
            line += nodes.emphasis(text=f"{part.kind}: ")
            line += nodes.Text(f"{part.part}. {part.reason}")
            verdict.append(line)
        tr += _cell(*verdict, label="Verdict")
        tr += _scale_cell(row.small, "Small scale")
        tr += _scale_cell(row.paper_scale, "Paper scale")
        body += tr
    lead = nodes.paragraph(text=summary(rows), classes=["wdc-dashboard-summary"])
    for placeholder in placeholders:
        placeholder.replace_self([lead.deepcopy(), table.deepcopy()])


def _fill_archive(doctree) -> None:
    placeholders = list(doctree.findall(archive_placeholder))
    if not placeholders:
        return
    rows = archived_rows(CLAIMS, read_records(ARCHIVE), claim_fingerprints())
    if not rows:
        content = [nodes.paragraph(text="No paper-scale run has been archived yet.")]
    else:
        table, body = _table("paper-scale-runs", ARCHIVE_HEADERS, (18, 11, 32, 12, 27))
        for row in rows:
            tr = nodes.row()
            tr += _cell(nodes.literal(text=row.claim_id))
            tr += _cell(nodes.strong(text=row.status), label="Status")
            tr += _cell(f"{row.compared}: {row.error_vs_tolerance}", label="Closest to its tolerance")
            tr += _cell(row.runtime, label="Runtime")
            code = f"commit {row.commit}; {row.library}"
            changed = _code_files_changed_since(row.commit, row.claim_id) if row.library == "its code changed since" else None
            if changed:  # name the files, so a reader can see what changed
                shown = changed if len(changed) <= 4 else changed[:3] + [f"and {len(changed) - 3} more"]
                code += " (" + ", ".join(shown) + ")"
            tr += _cell(f"{row.machine}, {row.recorded_at}", _detail(code), label="Computed by")
            body += tr
            if row.notes:  # a row of its own, the table's whole width: some notes are paragraphs long
                body += _notes_row(row.notes, len(ARCHIVE_HEADERS))
        content = [table]
    for placeholder in placeholders:
        placeholder.replace_self([node.deepcopy() for node in content])


def setup(app):
    app.add_directive("claims-dashboard", ClaimsDashboard)
    app.add_directive("paper-scale-runs", PaperScaleRuns)
    app.add_node(dashboard_placeholder)
    app.add_node(archive_placeholder)
    app.connect("builder-inited", _set_record_dir)
    app.connect("env-get-outdated", _always_reread)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _fill)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
