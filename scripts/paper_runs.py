"""Paper-scale verdicts kept in the repository, with where and by which code they were computed.

    python scripts/paper_runs.py run ID... [--machine TEXT] [--store DIR] [--dask ADDRESS]
        runs ``wdc check ID... --scale paper`` on a committed library and archives the records;
        grids go through the sweep runner, with progress bars, each finished run kept in the store
        (default: ``wdc``'s, ``~/.cache/wdcompanion/sweeps``), so stopping it (Ctrl-C, a lost job)
        and running the same command again loses only the runs in flight
    python scripts/paper_runs.py archive RECORD --commit SHA --machine TEXT
        archives a record computed earlier by the library at commit SHA

Archived records live in ``book/_generated/paper-scale/<claim id>.json``; the claims page lists
them. A record is archived only if its library fingerprint equals the fingerprint of the library's
sources at the named commit, so the commit shown next to it is the code that computed it. The
archive stores the claim's code fingerprint at that commit (its module and the modules it imports),
which the dashboard compares with today's: archiving an older record again fills it in.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from wdcompanion.claims import CLAIMS
from wdcompanion.claims.records import code_fingerprint, source_fingerprint

ROOT = Path(__file__).resolve().parents[1]
ARCHIVE = ROOT / "book" / "_generated" / "paper-scale"


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True).stdout


def fingerprint_at(commit: str) -> str:
    """The library fingerprint of the ``wdcompanion/*.py`` sources at ``commit``."""
    names = _git("ls-tree", "-r", "--name-only", commit, "--", "wdcompanion").decode().split()
    files = [(name.removeprefix("wdcompanion/"), _git("show", f"{commit}:{name}")) for name in names if name.endswith(".py")]
    return source_fingerprint(files)


def code_fingerprint_at(commit: str, claim_id: str) -> str:
    """The code fingerprint of ``claim_id``'s check (its module and what it imports) in the sources at ``commit``."""
    names = set(_git("ls-tree", "-r", "--name-only", commit, "--", "wdcompanion").decode().split())

    @functools.cache  # module_sources asks for a file once to see that it exists and again for its source
    def read(path: str) -> bytes | None:
        name = f"wdcompanion/{path}"
        return _git("show", f"{commit}:{name}") if name in names else None

    return code_fingerprint(f"wdcompanion.claims.{CLAIMS[claim_id].module}", read)


def this_machine() -> str:
    """A one-line description: CPU cores, processor and the GPU torch sees (if any)."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), {gpu}, torch {torch.__version__}"


def archive(record_path: Path, commit: str, machine: str) -> Path:
    """Copy a paper-scale record into the archive with its commit and machine; refuse a mismatch."""
    record = json.loads(Path(record_path).read_text())
    if record.get("scale") != "paper":
        raise SystemExit(f"{record_path}: scale is {record.get('scale')!r}, not 'paper'")
    commit = _git("rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
    expected = fingerprint_at(commit)
    if record.get("library_fingerprint") != expected:
        raise SystemExit(f"{record_path}: library fingerprint {record.get('library_fingerprint')} is not that of "
                         f"commit {commit[:10]} ({expected}); it was computed by other code")
    code = code_fingerprint_at(commit, record["claim_id"])
    if record.get("code_fingerprint", code) != code:
        raise SystemExit(f"{record_path}: code fingerprint {record['code_fingerprint']} is not that of commit {commit[:10]} ({code})")
    record.update(git_commit=commit, machine=machine, code_fingerprint=code)
    ARCHIVE.mkdir(parents=True, exist_ok=True)
    path = ARCHIVE / f"{record['claim_id']}.json"
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    print(f"archived {record['claim_id']} ({record['status']}, {record['runtime_s']:.0f} s) -> {path}")
    return path


def run(ids: list[str], machine: str, options: Sequence[str] = ()) -> int:
    if _git("status", "--porcelain", "--", "wdcompanion"):
        raise SystemExit("wdcompanion/ has uncommitted changes: commit them first, so the records name their code")
    commit = _git("rev-parse", "HEAD").decode().strip()
    with tempfile.TemporaryDirectory() as records:
        status = subprocess.run([sys.executable, "-m", "wdcompanion", "check", *ids, "--scale", "paper",
                                 "--record", records, "--progress", *options], cwd=ROOT).returncode
        for path in sorted(Path(records).glob("*.json")):
            archive(path, commit, machine)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run claims at paper scale and archive their records")
    run_parser.add_argument("ids", nargs="+", metavar="ID")
    run_parser.add_argument("--machine", default=None, help="description of this machine (default: detected)")
    run_parser.add_argument("--store", help="where finished sweep runs are kept (passed to wdc check)")
    run_parser.add_argument("--dask", help="a Dask scheduler for the sweeps (passed to wdc check)")
    archive_parser = sub.add_parser("archive", help="archive a paper-scale record computed earlier")
    archive_parser.add_argument("record", type=Path)
    archive_parser.add_argument("--commit", required=True, help="the commit whose library computed the record")
    archive_parser.add_argument("--machine", required=True, help="where it ran, e.g. '2 CPU cores, no GPU'")
    args = parser.parse_args(argv)
    if args.command == "run":
        store = ["--store", str(Path(args.store).resolve())] if args.store else []  # wdc runs in the repository root
        options = [*store, *(["--dask", args.dask] if args.dask else [])]
        return run(args.ids, args.machine or this_machine(), options)
    archive(args.record, args.commit, args.machine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
