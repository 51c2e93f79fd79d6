"""Sphinx extension: which version of the book a reader has in front of them, and how to cite it.

Everything here is computed when the book is built, never typed:

* the package version (``importlib.metadata``) and the commit of the checkout (``git rev-parse
  HEAD``; "with uncommitted changes" when ``git status`` shows modified tracked files; "unknown"
  without git);
* the repository URL, from the one setting ``repository.url`` of ``_config.yml`` (Jupyter Book
  passes it on as the theme option ``repository_url``). Jupyter Book's default, its own repository,
  is not this book's and counts as none. The repository button and Thebe follow the same setting.

It adds the version and commit to the footer of every page, the ``companion-bibtex`` directive (the
BibTeX entry of ``book/companion.bib`` with ``version``, ``url`` where one is configured, and the
commit) and the ``build-provenance`` directive (a paragraph saying how to cite this build). The values
are stored in the config value ``wdc_build``, so that a new commit re-renders every page.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
BIB_TEMPLATE = ROOT / "book" / "companion.bib"
JUPYTER_BOOK_DEFAULT_URL = "https://github.com/executablebooks/jupyter-book"
CITE_PAGE = "book/cite"


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def build_provenance(repository_url: str | None) -> dict[str, Any]:
    """``version``, ``commit`` (full hash or ``""``), ``short``, ``dirty`` and ``url`` (``""`` when none is configured)."""
    try:
        version = importlib.metadata.version("wdcompanion")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    commit = _git("rev-parse", "HEAD") or ""
    status = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    url = (repository_url or "").strip().rstrip("/")
    if url == JUPYTER_BOOK_DEFAULT_URL:
        url = ""
    return {"version": version, "commit": commit, "short": commit[:10], "dirty": bool(status), "url": url}


def describe_commit(build: dict[str, Any]) -> str:
    """E.g. ``commit 4ee3376d3a (with uncommitted changes)``, or ``an unknown commit`` outside git."""
    if not build["commit"]:
        return "an unknown commit (built outside a git checkout)"
    return f"commit {build['short']}" + (" (with uncommitted changes)" if build["dirty"] else "")


def companion_bibtex(build: dict[str, Any]) -> str:
    """The companion's BibTeX entry, from ``book/companion.bib`` plus this build's version, URL and commit."""
    entry = BIB_TEMPLATE.read_text().strip()
    if not entry.endswith("}"):
        raise ValueError(f"{BIB_TEMPLATE}: expected one entry ending in '}}'")
    body = entry[:-1].rstrip().rstrip(",")
    fields = [f"  version = {{{build['version']}}}"]
    if build["url"]:
        fields.append(f"  url     = {{{build['url']}}}")
    if build["commit"]:
        dirty = ", with uncommitted changes" if build["dirty"] else ""
        fields.append(f"  note    = {{Commit {build['commit']}{dirty}}}")
    return body + ",\n" + ",\n".join(fields) + "\n}"


def _config_inited(app, config) -> None:
    options = config.html_theme_options
    build = build_provenance(options.get("repository_url"))
    config.wdc_build = build
    options["repository_url"] = build["url"]
    options["use_repository_button"] = bool(build["url"])
    if build["url"]:  # Thebe runs the chapters on Binder from the book's own repository
        config.thebe_config.setdefault("repository_url", build["url"])
        config.thebe_config.setdefault("repository_branch", options.get("repository_branch", "main"))


def _footer(app, pagename, templatename, context, doctree) -> None:
    build = app.config.wdc_build
    cite = context["pathto"](CITE_PAGE)
    where = (f'Source: <a href="{build["url"]}">{build["url"]}</a>.' if build["url"] else
             "No public repository is configured: cite this book by its version and commit")
    context["theme_extra_footer"] = (
        f'<p class="wdc-build">wdcompanion {build["version"]}, built from <span class="wdc-commit">'
        f'{describe_commit(build)}</span>. {where} (<a href="{cite}">how to cite</a>).</p>'
    )


def _strip_thebe(app, doctree, docname) -> None:
    """Without a repository there is nothing for Thebe to run: drop its per-page configuration (Binder's default demo repository)."""
    if app.config.wdc_build["url"]:
        return
    for node in list(doctree.findall(nodes.raw)):
        if "text/x-thebe-config" in node.astext() or "kernelName =" in node.astext():
            node.parent.remove(node)


def _drop_thebe_assets(app, pagename, templatename, context, doctree) -> None:
    if app.config.wdc_build["url"]:
        return
    def thebe(asset: Any) -> bool:
        name = str(getattr(asset, "filename", asset) or "")
        body = str(getattr(asset, "attributes", {}).get("body", ""))
        return "thebe" in name or "THEBE_JS_URL" in body
    for key in ("script_files", "css_files"):
        if context.get(key):
            context[key] = [asset for asset in context[key] if not thebe(asset)]


class CompanionBibtex(SphinxDirective):
    """The companion's BibTeX entry with this build's version, URL (if configured) and commit."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        self.env.note_dependency(str(BIB_TEMPLATE))
        text = companion_bibtex(self.config.wdc_build)
        return [nodes.literal_block(text, text, language="bibtex", classes=["wdc-bibtex"])]


class BuildProvenance(SphinxDirective):
    """A paragraph: the version and commit of this build, and how to cite it with or without a repository URL."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        build = self.config.wdc_build
        text = f"This book is version {build['version']} of wdcompanion, built from "
        text += f"commit {build['commit']}" if build["commit"] else describe_commit(build)
        if build["url"]:
            text += f". Its source is at {build['url']}: cite the URL with the version and the commit."
        else:
            text += (". No public repository is configured for it yet (the setting is repository.url in _config.yml), "
                     "so cite it by version and commit, as in the entry below; both are also in the footer of every page.")
        if build["dirty"]:
            text += " This build also includes changes not yet committed, so its numbers may differ from that commit's."
        paragraph = nodes.paragraph(classes=["wdc-build-provenance"])
        paragraph += nodes.Text(text)
        return [paragraph]


def setup(app) -> dict[str, Any]:
    app.add_config_value("wdc_build", {}, "env")  # a new commit re-reads every page
    app.connect("config-inited", _config_inited, priority=900)
    app.connect("html-page-context", _footer)
    app.connect("html-page-context", _drop_thebe_assets, priority=950)
    app.connect("doctree-resolved", _strip_thebe, priority=900)
    app.add_directive("companion-bibtex", CompanionBibtex)
    app.add_directive("build-provenance", BuildProvenance)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}


__all__ = ["build_provenance", "companion_bibtex", "describe_commit", "setup"]
