"""Sphinx extension: the ``claims-dashboard`` directive.

The table is filled in at ``doctree-resolved`` time, after every chapter has been read (and so
executed), from the JSON verdict records. The page is re-read on every build so that it never
shows an old table. Notebooks executed by the build inherit ``$WDC_RECORD_DIR``, which this
extension sets (default ``_build/verdicts``) when it is not already set.
"""

from __future__ import annotations

import os
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from wdcompanion.claims import CLAIMS, read_records
from wdcompanion.claims.dashboard import dashboard_rows
from wdcompanion.claims.records import RECORD_DIR_ENV, library_fingerprint

HEADERS = ("Claim", "Status", "What was compared", "Worst error vs tolerance", "Chapter", "Runtime")


class dashboard_placeholder(nodes.General, nodes.Element):  # noqa: N801 (docutils naming)
    pass


class ClaimsDashboard(SphinxDirective):
    has_content = False

    def run(self):
        if not hasattr(self.env, "wdc_dashboard_docs"):
            self.env.wdc_dashboard_docs = set()
        self.env.wdc_dashboard_docs.add(self.env.docname)
        return [dashboard_placeholder()]


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


def _fill(app, doctree, docname) -> None:
    placeholders = list(doctree.findall(dashboard_placeholder))
    if not placeholders:
        return
    rows = dashboard_rows(CLAIMS, read_records(Path(os.environ[RECORD_DIR_ENV])), library_fingerprint())
    table = nodes.table(classes=["claims-dashboard"])
    group = nodes.tgroup(cols=len(HEADERS))
    table += group
    for width in (22, 8, 30, 14, 16, 8):
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    header = nodes.row()
    for title in HEADERS:
        header += _cell(title)
    head += header
    group += head
    body = nodes.tbody()
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
    group += body
    passed = sum(r.status == "pass" for r in rows)
    summary = nodes.paragraph(text=f"{passed} of {len(rows)} registered claims pass in this build.")
    for placeholder in placeholders:
        placeholder.replace_self([summary.deepcopy(), table.deepcopy()])


def setup(app):
    app.add_directive("claims-dashboard", ClaimsDashboard)
    app.add_node(dashboard_placeholder)
    app.connect("builder-inited", _set_record_dir)
    app.connect("env-get-outdated", _always_reread)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _fill)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
