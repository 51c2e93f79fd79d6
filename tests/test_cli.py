import json
import os

import pytest

from wdcompanion import cli, dmf


def test_list(capsys):
    assert cli.main(["list"]) == 0
    assert "dmf-lambda-threshold" in capsys.readouterr().out


def test_check_passes_and_records(tmp_path, capsys, cached_claims):
    assert cli.main(["check", "dmf-lambda-threshold", "--record", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("PASS dmf-lambda-threshold")
    assert (tmp_path / "dmf-lambda-threshold.json").exists()


def test_check_all_json(capsys, cached_claims):
    assert cli.main(["check", "--all", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert all(r["status"] in ("pass", "partial") for r in records), [r["status"] for r in records]


def test_a_part_not_reproduced_is_printed_and_is_not_a_failure(monkeypatch, capsys):
    from wdcompanion import claims
    from wdcompanion.claims import Verdict, compare

    partial = Verdict("req-rotational-variants", (compare("firm", [1.0], 1.0, 1e-9),
                                                  compare("attempt", [0.9], 0.5, 0.0, "at most", part="a part")))
    monkeypatch.setattr(claims, "check", lambda claim_id, scale: partial)
    assert cli.main(["check", "req-rotational-variants"]) == 0
    assert capsys.readouterr().out.startswith("PARTIAL req-rotational-variants: 1 of 2 comparisons within tolerance; "
                                              "not reproduced at this scale: a part")


def test_check_exits_nonzero_on_failure(monkeypatch, capsys):
    monkeypatch.setattr(dmf, "threshold_jump", lambda y, depth: 0.0)
    assert cli.main(["check", "dmf-lambda-threshold"]) == 1
    assert capsys.readouterr().out.startswith("FAIL dmf-lambda-threshold")


@pytest.mark.parametrize("argv", [["check"], ["check", "nope"], ["check", "--all", "dmf-lambda-threshold"],
                                  ["check", "--all", "--scale", "huge"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: wdc check" in capsys.readouterr().err  # the subcommand's usage, not the top-level one


def test_sweep_options_reach_the_runner_for_the_command_only(monkeypatch, capsys, tmp_path, small_run):
    from wdcompanion import claims, sweep

    seen = {}

    def check(claim_id, scale):
        seen.update({name: os.environ.get(name) for name in (sweep.DASK_ENV, sweep.STORE_ENV, sweep.PROGRESS_ENV)})
        seen["scale"] = scale
        return small_run("dmf-lambda-threshold").verdict

    monkeypatch.setattr(claims, "check", check)
    for name in (sweep.DASK_ENV, sweep.STORE_ENV, sweep.PROGRESS_ENV):
        monkeypatch.delenv(name, raising=False)
    argv = ["check", "dmf-lambda-threshold", "--dask", "tcp://scheduler:8786", "--store", str(tmp_path), "--progress"]
    assert cli.main(argv) == 0
    assert seen == {sweep.DASK_ENV: "tcp://scheduler:8786", sweep.STORE_ENV: str(tmp_path.resolve()), sweep.PROGRESS_ENV: "1",
                    "scale": "small"}
    assert "[1/1] dmf-lambda-threshold at small scale; sweep results kept in" in capsys.readouterr().err
    assert all(name not in os.environ for name in (sweep.DASK_ENV, sweep.STORE_ENV, sweep.PROGRESS_ENV))

    assert cli.main(["check", "dmf-lambda-threshold", "--scale", "paper"]) == 0  # paper: progress and a store by default
    assert seen == {sweep.DASK_ENV: None, sweep.STORE_ENV: str(cli.default_paper_store().resolve()), sweep.PROGRESS_ENV: "1",
                    "scale": "paper"}
    capsys.readouterr()
    assert cli.main(["check", "dmf-lambda-threshold"]) == 0  # small: neither
    assert seen == {sweep.DASK_ENV: None, sweep.STORE_ENV: None, sweep.PROGRESS_ENV: None, "scale": "small"}
    assert capsys.readouterr().err == ""
