"""Sphinx extension: the ``claims-dashboard`` and ``paper-scale-runs`` directives.

The table is filled in at ``doctree-resolved`` time, after every chapter has been read (and so
executed), from the JSON verdict records. The page is re-read on every build so that it never
shows an old table. Notebooks executed by the build inherit ``$WDC_RECORD_DIR``, which this
extension sets (default ``_build/verdicts``) when it is not already set. ``paper-scale-runs``
lists the archived paper-scale records of ``book/_generated/paper-scale`` (see
``scripts/paper_runs.py``), with the commit and machine that computed each.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from wdcompanion.claims import CLAIMS, read_records
from wdcompanion.claims.dashboard import archived_rows, dashboard_rows
from wdcompanion.claims.records import RECORD_DIR_ENV, library_fingerprint

HEADERS = ("Claim", "Status", "What was compared", "Worst error vs tolerance", "Chapter", "Runtime")
ARCHIVE_HEADERS = ("Claim", "Status", "Closest to its tolerance", "Runtime", "Machine", "Code")
ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "book" / "_generated" / "paper-scale"


def _library_files_changed_since(commit: str) -> list[str] | None:
    """The ``wdcompanion/*.py`` files that differ between ``commit`` and this checkout (``None`` without git)."""
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "diff", "--name-only", commit, "--", "wdcompanion"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return sorted(name.removeprefix("wdcompanion/") for name in out.split() if name.endswith(".py"))


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
    """Pages with a dashboard are re-read on every build: their table depends on the records."""
    return sorted(getattr(env, "wdc_dashboard_docs", set()) & env.found_docs)


def _purge(app, env, docname):
    getattr(env, "wdc_dashboard_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    env.wdc_dashboard_docs = getattr(env, "wdc_dashboard_docs", set()) | getattr(other, "wdc_dashboard_docs", set())


def _cell(content) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, nodes.Node):
        entry += nodes.paragraph("", "", content)
    else:
        entry += nodes.paragraph(text=str(content))
    return entry


def _table(classes: str, headers: tuple[str, ...], widths: tuple[int, ...]) -> tuple[nodes.table, nodes.tbody]:
    table = nodes.table(classes=[classes])
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


def _fill_dashboard(app, doctree, docname) -> None:
    placeholders = list(doctree.findall(dashboard_placeholder))
    if not placeholders:
        return
    rows = dashboard_rows(CLAIMS, read_records(Path(os.environ[RECORD_DIR_ENV])), library_fingerprint())
    table, body = _table("claims-dashboard", HEADERS, (22, 8, 30, 14, 16, 8))
    for row in rows:
        tr = nodes.row(classes=[f"claim-status-{row.status.split()[0].replace(' ', '-')}"])
        claim = nodes.entry()
        claim += nodes.paragraph("", "", nodes.literal(text=row.claim_id))
        claim += nodes.paragraph(text=f"{row.paper}, {row.location}")
        tr += claim
        tr += _cell(nodes.strong(text=row.status))
        tr += _cell(row.compared)
        tr += _cell(row.error_vs_tolerance)
        title = app.env.titles[row.chapter].astext() if row.chapter in app.env.titles else row.chapter
        tr += _cell(nodes.reference("", title, internal=True,
                                    refuri=app.builder.get_relative_uri(docname, row.chapter)))
        tr += _cell(row.runtime)
        body += tr
    passed = sum(r.status == "pass" for r in rows)
    summary = nodes.paragraph(text=f"{passed} of {len(rows)} registered claims pass in this build.")
    for placeholder in placeholders:
        placeholder.replace_self([summary.deepcopy(), table.deepcopy()])


def _fill_archive(doctree) -> None:
    placeholders = list(doctree.findall(archive_placeholder))
    if not placeholders:
        return
    rows = archived_rows(CLAIMS, read_records(ARCHIVE), library_fingerprint())
    if not rows:
        content = [nodes.paragraph(text="No paper-scale run has been archived yet.")]
    else:
        table, body = _table("paper-scale-runs", ARCHIVE_HEADERS, (18, 6, 30, 8, 20, 18))
        for row in rows:
            tr = nodes.row()
            tr += _cell(nodes.literal(text=row.claim_id))
            tr += _cell(nodes.strong(text=row.status))
            tr += _cell(f"{row.compared}: {row.error_vs_tolerance}" + (f". Note: {row.notes}" if row.notes else ""))
            tr += _cell(row.runtime)
            tr += _cell(f"{row.machine}, {row.recorded_at}")
            code = f"commit {row.commit}; {row.library}"
            changed = _library_files_changed_since(row.commit) if row.library == "library changed since" else None
            if changed:  # name the files, so a reader can see whether the numerical code changed
                code += " (" + ", ".join(changed) + ")"
            tr += _cell(code)
            body += tr
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
