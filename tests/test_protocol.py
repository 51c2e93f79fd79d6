import dataclasses
import importlib.util
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wdcompanion import claims
from wdcompanion.claims import ClaimFailed, Verdict, compare
from wdcompanion.claims.dashboard import archived_rows, dashboard_rows, summary
from wdcompanion.claims.records import (
    claim_files,
    claim_fingerprints,
    code_fingerprint,
    library_fingerprint,
    module_sources,
    source_fingerprint,
)
from wdcompanion.claims.registry import Caveat

ROOT = Path(__file__).resolve().parents[1]


def _verdict(measured):
    return Verdict("dmf-lambda-threshold", (compare("x vs y", measured, [1.0, 2.0], 1e-6, "rel"),), "small", 1.5)


def test_passing_verdict_prints_a_stable_line():
    verdict = _verdict([1.0, 2.0 + 1e-9])
    assert verdict.passed
    assert verdict.line() == "PASS dmf-lambda-threshold: 1 comparisons, 2 cases, all within tolerance"
    assert "[pass] x vs y: rel. error <= 1e-6 over 2 cases" in verdict.report()
    verdict.raise_if_failed()
    noted = Verdict(verdict.claim_id, verdict.comparisons, "paper", 1.0, ("part B not run",))
    assert noted.report().splitlines()[-1] == "  [note] part B not run"
    assert noted.line() == verdict.line()


def test_a_count_that_rounding_can_change_is_not_printed():
    fixed = compare("closed form", [1.0], 1.0, 1e-6, "rel")
    found = compare("at every minimizer found", [1.0, 1.0, 1.0], 1.0, 1e-6, "rel", count_varies=True)
    verdict = Verdict("dmf-layer-norms", (fixed, found), "small", 1.0)
    assert verdict.line() == "PASS dmf-layer-norms: 2 comparisons, all within tolerance"
    assert "[pass] at every minimizer found: rel. error <= 1e-6 over every case found" in verdict.report()
    assert "over 1 cases" in verdict.report()
    assert verdict.to_record()["n_cases"] == 4 and verdict.to_record()["comparisons"][1]["count_varies"]
    with pytest.raises(TypeError, match="count_varies"):
        compare("x", [1.0], 1.0, 1e-6, count_varies=1)


def test_failing_verdict_raises_with_the_comparison():
    verdict = _verdict([1.0, 2.1])
    assert not verdict.passed
    with pytest.raises(ClaimFailed, match=r"FAIL dmf-lambda-threshold.*\n.*\[FAIL\] x vs y: worst rel. error 0.05"):
        verdict.raise_if_failed()


def test_non_finite_measurement_fails():
    assert not _verdict([np.nan, 2.0]).passed


def test_compare_validates():
    with pytest.raises(ValueError, match="non-zero"):
        compare("a", [1.0], [0.0], 0.1, "rel")
    with pytest.raises(ValueError, match="tolerance"):
        compare("a", [1.0], [1.0], -1.0)
    with pytest.raises(ValueError, match="kind"):
        compare("a", [1.0], [1.0], 0.1, "relative")
    with pytest.raises(ValueError, match="no cases"):
        compare("a", [], [], 0.1)


def test_conclude_records_prints_and_raises(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WDC_RECORD_DIR", str(tmp_path))
    claims.conclude(_verdict([1.0, 2.0]))
    assert capsys.readouterr().out.startswith("PASS dmf-lambda-threshold")
    record = json.loads((tmp_path / "dmf-lambda-threshold.json").read_text())
    assert record["status"] == "pass" and record["library_fingerprint"] == library_fingerprint()
    assert record["code_fingerprint"] == claim_fingerprints()["dmf-lambda-threshold"]
    with pytest.raises(ClaimFailed):
        claims.conclude(_verdict([1.5, 2.0]))
    assert json.loads((tmp_path / "dmf-lambda-threshold.json").read_text())["status"] == "fail"


def _other(text="other"):
    """Code fingerprints of other code than this checkout's, for every claim."""
    return dict.fromkeys(claims.CLAIMS, text)


def test_dashboard_never_shows_pass_without_a_current_record(tmp_path):
    fingerprint = claim_fingerprints()
    assert dashboard_rows(claims.CLAIMS, {}, fingerprint)[0].status == "not run"
    claims.write_record(_verdict([1.0, 2.0]), tmp_path)
    records = claims.read_records(tmp_path)
    assert dashboard_rows(claims.CLAIMS, records, fingerprint)[0].status == "pass"
    stale = dashboard_rows(claims.CLAIMS, records, _other())[0]
    assert (stale.status, stale.verdict, stale.small.detail) == ("not run", "not run", "only a record from older code")
    claims.write_record(_verdict([1.0, 3.0]), tmp_path)
    failed = dashboard_rows(claims.CLAIMS, claims.read_records(tmp_path), fingerprint)[0]
    assert (failed.status, failed.verdict) == ("fail", "fail")


def _all_pass(tmp_path) -> dict:
    """A current passing small-scale record for every registered claim."""
    for claim_id in claims.CLAIMS:
        verdict = Verdict(claim_id, (compare("x vs y", [1.0], [1.0], 1e-6),), "small", 1.0)
        claims.write_record(verdict, tmp_path)
    return claims.read_records(tmp_path)


def test_dashboard_verdict_is_partial_exactly_where_the_registry_declares_a_caveat(tmp_path, monkeypatch):
    rows = dashboard_rows(claims.CLAIMS, _all_pass(tmp_path), claim_fingerprints(), {})
    for row in rows:
        declared = claims.CLAIMS[row.claim_id].caveats
        assert row.verdict == ("partial" if declared else "pass"), row.claim_id
        assert [p.part for p in row.parts] == [c.part for c in declared]
        assert row.paper_scale.status == "not run"
    claim = claims.CLAIMS["req-balanced-rotation"]
    caveat = Caveat("the per-neuron balance", "reported only", "Shown, not checked.")
    monkeypatch.setitem(claims.CLAIMS, claim.id, dataclasses.replace(claim, caveats=(caveat,)))
    row = next(r for r in dashboard_rows(claims.CLAIMS, _all_pass(tmp_path), claim_fingerprints(), {}) if r.claim_id == claim.id)
    assert (row.verdict, [(p.part, p.kind) for p in row.parts]) == ("partial", [("the per-neuron balance", "reported only")])


def _partial_verdict(scale="small", missed=True):
    firm = compare("closed form", [1.0], 1.0, 1e-6, "rel")
    attempt = compare("gain ratio", [0.7 if missed else 0.3], 0.5, 0.0, "at most", part="the reduced need for warmup")
    return Verdict("req-rotational-variants", (firm, attempt), scale, 1.0)


def test_one_sided_comparisons_measure_the_shortfall_or_the_excess():
    assert compare("a", [0.3, 0.6], 0.5, 0.0, "at least").errors.tolist() == pytest.approx([0.2, 0.0])
    assert compare("a", [0.3, 0.6], 0.5, 0.0, "at most").errors.tolist() == pytest.approx([0.0, 0.1])
    assert compare("a", [0.55], 0.5, 0.1, "at most").passed and not compare("a", [0.65], 0.5, 0.1, "at most").passed
    assert "excess over the bound <= 0.1 over 1 cases" in compare("a", [0.55], 0.5, 0.1, "at most").line()
    assert "bound 0.5" in compare("a", [0.3], 0.5, 0.0, "at least").line()
    with pytest.raises(TypeError, match="part"):
        compare("a", [1.0], 1.0, 0.1, part=1)


def test_a_missed_part_is_not_reproduced_and_does_not_fail_the_claim(tmp_path, monkeypatch, capsys):
    verdict = _partial_verdict()
    assert verdict.passed and verdict.status == "partial" and verdict.not_reproduced == ("the reduced need for warmup",)
    assert verdict.line() == ("PARTIAL req-rotational-variants: 1 of 2 comparisons within tolerance; "
                              "not reproduced at this scale: the reduced need for warmup")
    assert "[not reproduced] gain ratio: excess over the bound > 0 (the values are in the margins table)" in verdict.report()
    verdict.raise_if_failed()
    assert _partial_verdict(missed=False).status == "pass"
    failing = Verdict("req-rotational-variants", (compare("closed form", [2.0], 1.0, 1e-6), *_partial_verdict().comparisons[1:]))
    assert failing.status == "fail" and failing.line().startswith("FAIL req-rotational-variants: 1 of 1 comparisons outside")
    assert failing.line().endswith("not reproduced at this scale: the reduced need for warmup")
    monkeypatch.setenv("WDC_RECORD_DIR", str(tmp_path))
    claims.conclude(verdict)  # prints, records, does not raise
    assert capsys.readouterr().out.startswith("PARTIAL")
    record = claims.read_records(tmp_path)["req-rotational-variants"]
    assert (record["status"], record["not_reproduced"]) == ("partial", ["the reduced need for warmup"])
    assert record["comparisons"][1]["part"] == "the reduced need for warmup"
    assert verdict.margins()["part of the claim"].tolist() == ["", "the reduced need for warmup"]


def test_the_dashboard_shows_a_part_not_reproduced_as_partial(tmp_path):
    records = _all_pass(tmp_path)
    claims.write_record(_partial_verdict(), tmp_path)
    records = claims.read_records(tmp_path)
    row = next(r for r in dashboard_rows(claims.CLAIMS, records, claim_fingerprints(), {})
               if r.claim_id == "req-rotational-variants")
    assert (row.small.status, row.verdict) == ("partial", "partial")
    (part,) = row.parts
    assert (part.part, part.kind) == ("the reduced need for warmup", "not reproduced") and "gain ratio" in part.reason
    claims.write_record(_partial_verdict(missed=False), tmp_path)
    row = next(r for r in dashboard_rows(claims.CLAIMS, claims.read_records(tmp_path), claim_fingerprints(), {})
               if r.claim_id == "req-rotational-variants")
    assert (row.small.status, row.verdict, row.parts) == ("pass", "pass", ())


def test_dashboard_paper_scale_status_from_the_archive(tmp_path):
    small = _all_pass(tmp_path / "small")
    fingerprint = claim_fingerprints()
    _paper_record(tmp_path / "archive", git_commit="0123456789abcdef", machine="m", recorded_at="2026-11-23T08:00:00Z")
    archive = claims.read_records(tmp_path / "archive")
    row = dashboard_rows(claims.CLAIMS, small, fingerprint, archive)[0]
    assert (row.paper_scale.status, row.verdict) == ("pass", "pass")
    assert row.paper_scale.detail == "on 2026-11-23 at commit 0123456789"
    stale = dashboard_rows(claims.CLAIMS, small, {**fingerprint, "dmf-lambda-threshold": "other"}, archive)[0].paper_scale
    assert stale.status == "stale" and stale.detail.startswith("passed on 2026-11-23 at commit 0123456789; its code changed")
    # a failed archived run makes the claim partial, even when that run is stale
    failing = json.loads((tmp_path / "archive" / "dmf-lambda-threshold.json").read_text())
    failing["status"] = "fail"
    failing["comparisons"][0]["passed"] = False
    for code, status in ((fingerprint["dmf-lambda-threshold"], "fail"), ("older code", "stale")):
        (tmp_path / "archive" / "dmf-lambda-threshold.json").write_text(json.dumps({**failing, "code_fingerprint": code}))
        row = dashboard_rows(claims.CLAIMS, small, fingerprint, claims.read_records(tmp_path / "archive"))[0]
        assert (row.paper_scale.status, row.verdict, row.parts[-1].kind) == (status, "partial", "fails at paper scale")
        assert "failed 1 of 1 comparisons" in row.parts[-1].reason


def test_dashboard_summary_counts_partial_claims_and_paper_statuses(tmp_path):
    _all_pass(tmp_path)
    claims.write_record(_partial_verdict(), tmp_path)  # one claim with a part not reproduced
    rows = dashboard_rows(claims.CLAIMS, claims.read_records(tmp_path), claim_fingerprints(), {})
    text = summary(rows)
    assert f"{len(rows) - 1} pass, 1 hold only in part" in text
    assert f"{len(rows)} not run" in text and f"{len(rows)} of {len(rows)}" not in text


def test_a_caveat_needs_a_known_kind_and_a_reason():
    with pytest.raises(ValueError, match="kind"):
        Caveat("a part", "unclear", "a reason.")
    with pytest.raises(ValueError, match="reason"):
        Caveat("a part", "contradicted", "")


def _paper_record(tmp_path, **extra):
    verdict = Verdict("dmf-lambda-threshold", (compare("x vs y", [1.0], [1.0], 1e-6),), "paper", 4321.0)
    path = claims.write_record(verdict, tmp_path)
    record = json.loads(path.read_text())
    record.update(extra)
    path.write_text(json.dumps(record))
    return path


def test_archived_runs_name_their_commit_and_whether_the_library_changed(tmp_path):
    _paper_record(tmp_path, git_commit="0123456789abcdef", machine="2 CPU cores, no GPU")
    records = claims.read_records(tmp_path)
    (row,) = archived_rows(claims.CLAIMS, records, claim_fingerprints())
    assert (row.claim_id, row.status, row.runtime, row.commit) == ("dmf-lambda-threshold", "pass", "72 min", "0123456789")
    assert row.library == "same code as this build"
    stale = archived_rows(claims.CLAIMS, records, _other())[0]
    assert (stale.library, stale.status) == ("its code changed since", "stale (passed)")
    _paper_record(tmp_path / "failed", git_commit="0123456789abcdef", machine="m", status="fail")
    failed = archived_rows(claims.CLAIMS, claims.read_records(tmp_path / "failed"), _other())[0]
    assert failed.status == "stale (failed)"
    assert archived_rows(claims.CLAIMS, claims.read_records(tmp_path / "failed"), claim_fingerprints())[0].status == "fail"
    assert archived_rows(claims.CLAIMS, {}, claim_fingerprints()) == []
    assert row.notes == ()
    _paper_record(tmp_path, git_commit="0123456789abcdef", machine="m", notes=["part B not run", "seed 3"])
    assert archived_rows(claims.CLAIMS, claims.read_records(tmp_path), _other("x"))[0].notes == ("part B not run", "seed 3")
    with pytest.raises(ValueError, match="commit"):
        archived_rows(claims.CLAIMS, claims.read_records(_paper_record(tmp_path / "bare").parent), _other("x"))


def test_source_fingerprint_is_the_library_fingerprint():
    package = ROOT / "wdcompanion"
    files = [(p.relative_to(package).as_posix(), p.read_bytes()) for p in package.rglob("*.py")]
    assert source_fingerprint(files) == library_fingerprint()
    assert source_fingerprint(files[1:]) != library_fingerprint()


def _paper_runs_script():
    spec = importlib.util.spec_from_file_location("paper_runs", ROOT / "scripts" / "paper_runs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="needs the git checkout (the archive names commits)")
def test_paper_runs_archive_only_records_computed_by_the_named_commit(tmp_path, monkeypatch):
    script = _paper_runs_script()
    monkeypatch.setattr(script, "ARCHIVE", tmp_path / "archive")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    code = script.code_fingerprint_at(head, "dmf-lambda-threshold")
    good = _paper_record(tmp_path / "good", library_fingerprint=script.fingerprint_at(head), code_fingerprint=code)
    archived = json.loads(script.archive(good, head, "a test machine").read_text())
    assert archived["git_commit"] == head and archived["machine"] == "a test machine" and archived["code_fingerprint"] == code
    wrong = _paper_record(tmp_path / "wrong", library_fingerprint="0000000000000000")
    with pytest.raises(SystemExit, match="computed by other code"):
        script.archive(wrong, head, "a test machine")
    other_code = _paper_record(tmp_path / "other", library_fingerprint=script.fingerprint_at(head), code_fingerprint="0" * 16)
    with pytest.raises(SystemExit, match="code fingerprint"):
        script.archive(other_code, head, "a test machine")
    older = json.loads(good.read_text())  # a record archived before records had code fingerprints: filled in
    del older["code_fingerprint"]
    good.write_text(json.dumps(older))
    assert json.loads(script.archive(good, head, "a test machine").read_text())["code_fingerprint"] == code
    small = claims.write_record(_verdict([1.0, 2.0]), tmp_path / "small")
    with pytest.raises(SystemExit, match="not 'paper'"):
        script.archive(small, head, "a test machine")


def test_registry_and_scale(monkeypatch):
    assert set(claims.CLAIMS) <= {
        "dmf-unique-minimizer", "dmf-hessian-spectrum", "dmf-layer-norms", "dmf-lambda-threshold",
        "req-equilibrium", "req-balanced-rotation", "req-rotational-variants",
    }
    with pytest.raises(KeyError, match="unknown claim id"):
        claims.get_claim("nope")
    monkeypatch.setenv("WDC_SCALE", "huge")
    with pytest.raises(ValueError, match="scale"):
        claims.scale_from_env()
    monkeypatch.setenv("WDC_SCALE", "paper")
    assert claims.scale_from_env() == "paper"


def test_code_fingerprint_hashes_a_module_and_what_it_imports_only():
    files = {
        "__init__.py": b"",
        "a.py": b"from . import b\nfrom .c import f\n",
        "b.py": b"x = 1\n",
        "c.py": b"import wdcompanion.d\n\ndef f():\n    from .sub import g\n",
        "d.py": b"",
        "e.py": b"y = 2\n",
        "sub/__init__.py": b"from .m import g\n",
        "sub/m.py": b"from .. import b\ng = 1\n",
    }
    read = files.get
    assert set(module_sources("wdcompanion.a", read)) == {"a.py", "b.py", "c.py", "d.py", "sub/__init__.py", "sub/m.py"}
    assert set(module_sources("wdcompanion.sub.m", read)) == {"sub/m.py", "b.py"}  # package __init__s only run on the way
    before = code_fingerprint("wdcompanion.a", read)
    files["e.py"] = b"y = 3\n"  # not imported: the same code
    assert code_fingerprint("wdcompanion.a", read) == before
    files["d.py"] = b"z = 1\n"  # imported through c: other code
    assert code_fingerprint("wdcompanion.a", read) != before
    for bad in ("numpy", "wdcompanion.nowhere", 3):
        with pytest.raises(ValueError, match="module"):
            module_sources(bad, read)


def test_every_claims_code_is_its_module_and_the_library_it_imports():
    for claim in claims.CLAIMS.values():
        files = claim_files(claim)
        assert f"claims/{claim.module}.py" in files and "claims/protocol.py" in files
        assert "cli.py" not in files and "claims/registry.py" not in files
    dmf_code = claim_files(claims.CLAIMS["dmf-lambda-threshold"])
    assert "dmf.py" in dmf_code and "rotation.py" not in dmf_code and "optim.py" not in dmf_code


def test_the_dashboard_needs_each_claims_code_fingerprint():
    with pytest.raises(TypeError, match="fingerprints"):
        dashboard_rows(claims.CLAIMS, {}, library_fingerprint())
    with pytest.raises(ValueError, match="dmf-lambda-threshold"):
        archived_rows(claims.CLAIMS, {}, {})


def test_the_closest_comparison_is_the_firm_one_nearest_its_tolerance(tmp_path):
    """A zero-tolerance comparison without error is not the closest (records' ``worst`` ranked it first), and a
    part not reproduced does not hide the firm comparison that failed."""
    verdict = Verdict("dmf-lambda-threshold", (
        compare("count vs count", [3.0], [3.0], 0.0, "abs"),
        compare("halfway", [1.5], [1.0], 1.0, "rel"),
        compare("quarter", [1.25], [1.0], 1.0, "rel"),
    ), "paper", 60.0)
    path = claims.write_record(verdict, tmp_path)
    record = json.loads(path.read_text())
    assert record["worst"]["name"] == "count vs count"  # what the record itself ranks first
    path.write_text(json.dumps({**record, "git_commit": "0123456789abcdef", "machine": "m"}))
    (row,) = archived_rows(claims.CLAIMS, claims.read_records(tmp_path), claim_fingerprints())
    assert (row.compared, row.error_vs_tolerance) == ("halfway", "rel. 5.0e-01 vs 1")
    missed = compare("a part", [0.0], [1.0], 0.0, "at least", part="a part of the claim")
    failing = Verdict("dmf-lambda-threshold", (missed, compare("firm", [3.0], [1.0], 1.0, "rel")), "paper", 60.0)
    path = claims.write_record(failing, tmp_path)
    path.write_text(json.dumps({**json.loads(path.read_text()), "git_commit": "0123456789abcdef", "machine": "m"}))
    (row,) = archived_rows(claims.CLAIMS, claims.read_records(tmp_path), claim_fingerprints())
    assert (row.status, row.compared, row.error_vs_tolerance) == ("fail", "firm", "rel. 2.0e+00 vs 1")
