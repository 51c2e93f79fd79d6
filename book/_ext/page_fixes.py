"""Fixes to the pages Jupyter Book 1's theme stack renders, found by the browser test.

* ``sphinx_thebe`` and ``sphinx_togglebutton`` register their inline configuration scripts twice, so
  every page declared ``const THEBE_JS_URL`` twice (a console error). Repeated script entries are
  dropped from each page's context, keeping the first.
* The book's stylesheet (``static/wdcompanion.css``: the dashboard's layout, figures scaled with
  their aspect ratio, the footer's build line) is added to every page.
* An image without alt text gets docutils' default, its file name (a hash, for notebook outputs).
  A figure's image without one gets its caption as alt text instead, so that a screen reader says
  what the figure shows; chapters can set a longer description per cell
  (``"mystnb": {"image": {"alt": ...}}`` in the cell's metadata), which is kept. A page that pastes
  a figure from another page (``{glue}`` with ``:doc:``) wraps it in the ``image-alt`` directive,
  whose argument becomes the alt text of the images inside it.
* For the PDF (``make pdf``): such a pasted figure's image is inserted after Sphinx collected the
  page's images, so the LaTeX builder would not copy it and would point at a path that does not
  exist; it is pointed at the same image file as collected for the page it comes from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

STATIC = Path(__file__).resolve().parent / "static"


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


def alt_from_caption(app, doctree, docname) -> None:
    """Give every figure's image without alt text its caption's text as alt text."""
    for figure in doctree.findall(nodes.figure):
        captions = [c for c in figure.children if isinstance(c, nodes.caption)]
        if not captions:
            continue
        text = " ".join(captions[0].astext().split())
        for image in figure.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = text


class alt_container(nodes.General, nodes.Element):  # noqa: N801 (docutils naming)
    """A wrapper whose ``alt`` attribute is given to the images inside it that have none."""


class ImageAlt(SphinxDirective):
    """``image-alt``: the argument (one paragraph of plain text) is the alt text of the images in the content."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = True

    def run(self) -> list[nodes.Node]:
        node = alt_container(alt=" ".join(self.arguments[0].split()))
        self.state.nested_parse(self.content, self.content_offset, node)
        return [node]


def alt_from_wrapper(app, doctree, docname) -> None:
    """Give the images inside an ``image-alt`` wrapper its text, then drop the wrapper (keeping its content)."""
    for wrapper in list(doctree.findall(alt_container)):
        for image in wrapper.findall(nodes.image):
            if not image.get("alt"):
                image["alt"] = wrapper["alt"]
        wrapper.replace_self(wrapper.children)


def pasted_images_for_latex(app, doctree, docname) -> None:
    """In LaTeX builds, point an image Sphinx did not collect at the collected file of the same name."""
    if app.builder.format != "latex":
        return
    collected = {Path(uri).name: uri for uri in app.env.images}
    for image in doctree.findall(nodes.image):
        uri = image.get("uri", "")
        if uri not in app.env.images and Path(uri).name in collected:
            image["uri"] = collected[Path(uri).name]
            image["candidates"] = {"*": image["uri"]}


def add_static(app) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app) -> dict[str, Any]:
    app.connect("builder-inited", add_static)
    app.add_css_file("wdcompanion.css")
    app.add_node(alt_container)
    app.add_directive("image-alt", ImageAlt)
    app.connect("doctree-resolved", alt_from_wrapper, priority=400)
    app.connect("doctree-resolved", alt_from_caption)
    app.connect("doctree-resolved", pasted_images_for_latex)
    app.connect("html-page-context", drop_repeated_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
