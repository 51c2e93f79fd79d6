"""Command line: ``wdc list``, ``wdc check ID... | --all`` (also ``python -m wdcompanion``).

``wdc check`` runs the same check functions as the book's chapters, prints their verdict lines
and exits with status 1 if any claim fails (2 for usage errors such as an unknown id). A claim whose
firm predictions hold but of which a part was not reproduced prints ``PARTIAL`` and the parts; that
is not a failure (exit status 0).

Claims whose experiments are grids run them through :func:`wdcompanion.sweep.run_sweep`; ``wdc check``
hands them its options through the environment variables the runner reads (for the duration of the
command only): ``--dask ADDRESS`` (``$WDC_DASK``: run on that Dask cluster), ``--store DIR``
(``$WDC_SWEEP_STORE``: keep each finished run there, so a rerun resumes; at paper scale the default is
:func:`default_paper_store`) and ``--progress`` (``$WDC_PROGRESS``: progress bars on stderr; the
default at paper scale).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import claims, sweep

__all__ = ["main", "default_paper_store"]


def default_paper_store() -> Path:
    """Where ``wdc check --scale paper`` keeps finished sweep runs unless ``--store`` or ``$WDC_SWEEP_STORE`` says otherwise.

    ``$XDG_CACHE_HOME/wdcompanion/sweeps`` (an absolute ``XDG_CACHE_HOME`` only, as the XDG specification
    asks), else ``~/.cache/wdcompanion/sweeps``.
    """
    cache = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(cache) if Path(cache).is_absolute() else Path.home() / ".cache") / "wdcompanion" / "sweeps"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wdc", description="Check the weight-decay papers' claims.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered claims")
    check = sub.add_parser("check", help="run claim checks and print their verdicts",
                           description="Run claim checks at their registered settings (each claim module's SMALL or "
                           "PAPER). For changed settings, call the module's run() with dataclasses.replace of them "
                           "(see the chapter's 'Change it and rerun'); such a verdict is never recorded.")
    check.set_defaults(command_parser=check)  # usage errors print the `wdc check` usage line
    check.add_argument("ids", nargs="*", metavar="ID", help="claim ids (see `wdc list`)")
    check.add_argument("--all", action="store_true", help="check every registered claim")
    check.add_argument("--scale", choices=claims.SCALES, default="small",
                       help="small (default, a minute on a laptop) or paper (bigger, slower; GPU if present)")
    check.add_argument("--json", action="store_true", help="print the verdict records as JSON")
    check.add_argument("--record", type=Path, metavar="DIR", help="also write JSON records to DIR")
    check.add_argument("--dask", metavar="ADDRESS", help="run sweeps on this Dask scheduler (tcp://host:8786; "
                       "default: $WDC_DASK, else local processes); needs wdcompanion[cluster]")
    check.add_argument("--store", type=Path, metavar="DIR", help="keep finished sweep runs in DIR and reuse them "
                       "(default: $WDC_SWEEP_STORE; at paper scale ~/.cache/wdcompanion/sweeps)")
    check.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bars on stderr (default: on at paper scale)")
    return parser


def _list() -> int:
    for claim in claims.CLAIMS.values():
        print(f"{claim.id}\n  {claim.paper}, {claim.location}\n  {claim.statement}\n  chapter: {claim.chapter}")
    return 0


def _check(args: argparse.Namespace) -> int:
    parser = args.command_parser
    if args.all == bool(args.ids):
        parser.error("give claim ids or --all (not both)")
    ids = list(claims.CLAIMS) if args.all else args.ids
    unknown = [i for i in ids if i not in claims.CLAIMS]
    if unknown:
        parser.error(f"unknown claim id(s): {', '.join(unknown)}; known: {', '.join(claims.CLAIMS)}")
    progress = args.progress if args.progress is not None else (True if args.scale == "paper" else None)  # None: as set
    store = args.store or os.environ.get(sweep.STORE_ENV) or (default_paper_store() if args.scale == "paper" else None)
    settings = {sweep.DASK_ENV: args.dask, sweep.STORE_ENV: store and str(Path(store).resolve()),
                sweep.PROGRESS_ENV: None if progress is None else ("1" if progress else "0")}
    with _environment(settings):
        verdicts = []
        for i, claim_id in enumerate(ids, 1):
            if progress:
                stored = f"; sweep results kept in {store}" if store else ""
                print(f"wdc: [{i}/{len(ids)}] {claim_id} at {args.scale} scale{stored}", file=sys.stderr, flush=True)
            verdicts.append(claims.check(claim_id, args.scale))
    for verdict in verdicts:
        if args.record:
            claims.write_record(verdict, args.record)
        if not args.json:
            print(verdict.report())
    if args.json:
        print(json.dumps([v.to_record() for v in verdicts], indent=2, allow_nan=False))
    return 0 if all(v.passed for v in verdicts) else 1


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set the given environment variables (``None``: leave as is) for the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    return _check(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
