"""Source fingerprints, in a module that imports nothing else of the library.

Both :mod:`wdcompanion.claims.records` (verdict records) and :mod:`wdcompanion.sweep` (the results
store) key what they write by them, and topic modules must not import :mod:`wdcompanion.claims`.

- :func:`library_fingerprint` hashes every source file of the package: it names the exact library
  a record was computed by (``scripts/paper_runs.py`` checks it against the commit it archives).
- :func:`code_fingerprint` hashes one module and the package modules it imports, directly or
  through others (found in the sources' ``import`` statements): the code a claim's check or a sweep's
  run function actually executes. An edit elsewhere in the library leaves it unchanged, so a
  paper-scale record or a stored sweep run stays current until its own code changes.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["PACKAGE", "PACKAGE_ROOT", "source_fingerprint", "library_fingerprint", "module_sources", "code_fingerprint"]

PACKAGE = "wdcompanion"
PACKAGE_ROOT = Path(__file__).resolve().parent

Reader = Callable[[str], "bytes | None"]  # a path relative to the package -> its source, or None if there is none


def source_fingerprint(files: Iterable[tuple[str, bytes]]) -> str:
    """SHA-256 (first 16 hex digits) over ``(path, content)`` pairs, paths relative to the package, in path order."""
    digest = hashlib.sha256()
    for name, content in sorted(files, key=lambda item: item[0].split("/")):
        digest.update(name.encode())
        digest.update(content)
    return digest.hexdigest()[:16]


def library_fingerprint() -> str:
    """The :func:`source_fingerprint` of the installed library's ``.py`` sources (read from disk at each call)."""
    return source_fingerprint((p.relative_to(PACKAGE_ROOT).as_posix(), p.read_bytes()) for p in PACKAGE_ROOT.rglob("*.py"))


def _read_installed(path: str) -> bytes | None:
    file = PACKAGE_ROOT / path
    return file.read_bytes() if file.is_file() else None


def _source_path(module: str, read: Reader) -> tuple[str, bool] | None:
    """The package-relative path of ``module``'s source and whether it is a package; None if it has none."""
    parts = module.split(".")[1:]
    if not parts:
        return ("__init__.py", True) if read("__init__.py") is not None else None
    stem = "/".join(parts)
    if read(f"{stem}.py") is not None:
        return f"{stem}.py", False
    if read(f"{stem}/__init__.py") is not None:
        return f"{stem}/__init__.py", True
    return None


def _imports(source: bytes, module: str, is_package: bool) -> list[tuple[str, tuple[str, ...]]]:
    """The module's ``import`` statements as ``(module, names)``: ``import a.b`` is ``("a.b", ())``,
    ``from a import b, c`` is ``("a", ("b", "c"))``; relative ones resolved against ``module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            found.append((prefix, tuple(alias.name for alias in node.names)))
    return found


def module_sources(module: str, read: Reader = _read_installed) -> dict[str, bytes]:
    r"""Sources of ``module`` and of every package module it imports, directly or through others.

    ``module`` is a dotted name under ``wdcompanion`` (``ValueError`` otherwise, or if it has no
    source); ``read`` returns a package-relative path's source, or None (default: the installed
    files; ``scripts/paper_runs.py`` reads a commit's). Returns ``{package-relative path: source}``.
    A package's ``__init__`` counts where a name is taken from it (``from .. import name`` of a
    name that is not a submodule), not where it only runs on the way to a submodule: the package's
    ``__init__`` files only re-export.
    """
    if not isinstance(module, str) or not (module == PACKAGE or module.startswith(PACKAGE + ".")):
        raise ValueError(f"module must be a dotted name under {PACKAGE!r}, got {module!r}")
    if _source_path(module, read) is None:
        raise ValueError(f"module {module!r} has no source in the package")
    sources: dict[str, bytes] = {}
    todo = [module]
    while todo:
        found = _source_path(todo.pop(), read)
        if found is None or found[0] in sources:
            continue
        path, is_package = found
        sources[path] = read(path)  # type: ignore[assignment]
        name = PACKAGE if path == "__init__.py" else PACKAGE + "." + path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for imported, names in _imports(sources[path], name, is_package):
            if imported != PACKAGE and not imported.startswith(PACKAGE + "."):
                continue
            submodules = [f"{imported}.{n}" for n in names if _source_path(f"{imported}.{n}", read) is not None]
            todo += submodules
            if len(submodules) < len(names) or not names:  # a name defined in the module itself, or ``import a.b``
                todo.append(imported)
    return sources


def code_fingerprint(module: str, read: Reader = _read_installed) -> str:
    """The :func:`source_fingerprint` of :func:`module_sources` of ``module``: the code it runs, and nothing else."""
    return source_fingerprint(module_sources(module, read).items())
