"""Fixes to the pages Jupyter Book 1's theme stack renders, found by the browser test.

``sphinx_thebe`` and ``sphinx_togglebutton`` register their inline configuration scripts twice, so
every page declared ``const THEBE_JS_URL`` twice (a console error). This extension drops repeated
script entries from each page's context, keeping the first.
"""

from __future__ import annotations

from typing import Any


def _key(script: Any) -> tuple:
    attributes = tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items()))
    return str(getattr(script, "filename", script) or ""), attributes  # the copies differ in filename None vs ""


def drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app) -> dict[str, Any]:
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
