"""Command line: ``wdc list``, ``wdc check ID... | --all`` (also ``python -m wdcompanion``).

``wdc check`` runs the same check functions as the book's chapters, prints their verdict lines
and exits with status 1 if any claim fails (2 for usage errors such as an unknown id).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import claims

__all__ = ["main"]


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wdc", description="Check the weight-decay papers' claims.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered claims")
    check = sub.add_parser("check", help="run claim checks and print their verdicts")
    check.add_argument("ids", nargs="*", metavar="ID", help="claim ids (see `wdc list`)")
    check.add_argument("--all", action="store_true", help="check every registered claim")
    check.add_argument("--scale", choices=claims.SCALES, default="small",
                       help="small (default, a minute on a laptop) or paper (bigger, slower; GPU if present)")
    check.add_argument("--json", action="store_true", help="print the verdict records as JSON")
    check.add_argument("--record", type=Path, metavar="DIR", help="also write JSON records to DIR")
    return parser


def _list() -> int:
    for claim in claims.CLAIMS.values():
        print(f"{claim.id}\n  {claim.paper}, {claim.location}\n  {claim.statement}\n  chapter: {claim.chapter}")
    return 0


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.all == bool(args.ids):
        parser.error("give claim ids or --all (not both)")
    ids = list(claims.CLAIMS) if args.all else args.ids
    unknown = [i for i in ids if i not in claims.CLAIMS]
    if unknown:
        parser.error(f"unknown claim id(s): {', '.join(unknown)}; known: {', '.join(claims.CLAIMS)}")
    verdicts = [claims.check(claim_id, args.scale) for claim_id in ids]
    for verdict in verdicts:
        if args.record:
            claims.write_record(verdict, args.record)
        if not args.json:
            print(verdict.report())
    if args.json:
        print(json.dumps([v.to_record() for v in verdicts], indent=2))
    return 0 if all(v.passed for v in verdicts) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return _list()
    return _check(args, parser)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
