import json

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
    assert [r["status"] for r in records] == ["pass"] * len(records)


def test_check_exits_nonzero_on_failure(monkeypatch, capsys):
    monkeypatch.setattr(dmf, "threshold_jump", lambda y, depth: 0.0)
    assert cli.main(["check", "dmf-lambda-threshold"]) == 1
    assert capsys.readouterr().out.startswith("FAIL dmf-lambda-threshold")


@pytest.mark.parametrize("argv", [["check"], ["check", "nope"], ["check", "--all", "dmf-lambda-threshold"],
                                  ["check", "--all", "--scale", "huge"]])
def test_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
