"""wdcompanion.sweep: the same table from every executor, resumption after a kill, a verified store, checks first."""

import json
import logging
import math
import multiprocessing
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import sweep_helpers as h

from wdcompanion import _fingerprint, sweep
from wdcompanion.sweep import SweepError, SweepStoreWarning, run_sweep

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
GRID = [dict(seed=s, lr=lr) for s in range(3) for lr in (0.1, 1e200)]  # lr = 1e200 diverges: inf and NaN results
FP = "test-fingerprint"  # not the library's: others may edit the source while these tests run


@pytest.fixture
def markers(tmp_path, monkeypatch):
    """A folder where every run (in this process or in a worker started after this) leaves its markers."""
    folder = tmp_path / "markers"
    folder.mkdir()
    monkeypatch.setenv(h.MARKERS_ENV, str(folder))
    return folder


@pytest.fixture(autouse=True)
def _no_dask_env_and_no_leaks(monkeypatch):
    monkeypatch.delenv(sweep.DASK_ENV, raising=False)
    before = {p.pid for p in multiprocessing.active_children()}
    yield
    deadline = time.monotonic() + 10
    while {p.pid for p in multiprocessing.active_children()} - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not {p.pid for p in multiprocessing.active_children()} - before, "worker processes left running"


def count(folder, what, seed=None):
    return len(list(folder.glob(f"{what}-{'*' if seed is None else seed}-*")))


def stored(store):
    return sorted(store.rglob("*.json"))


@pytest.fixture(scope="module")
def reference():
    return run_sweep(h.descend, GRID, executor="serial", fingerprint=FP)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as local, distributed.Client(local, set_as_default=False) as client:
        yield local, client
    deadline = time.monotonic() + 20
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children(), "the cluster's worker processes outlived it"


def test_serial_table_shape_and_values(reference):
    assert list(reference.columns) == ["seed", "lr", "loss", "w0", "w1", "ratio", "diverged", "steps_run", "label"]
    assert reference[["seed", "lr"]].to_dict("records") == GRID
    direct = pd.DataFrame([{**s, **h.descend(**s)} for s in GRID])
    assert reference.loss.tolist()[::2] == direct.loss.tolist()[::2]
    assert reference.diverged.tolist() == [False, True] * 3
    assert reference.ratio.isna().tolist() == [False, True] * 3  # NaN survives
    assert str(reference.steps_run.dtype) == "int64" and reference.diverged.dtype == bool


def test_local_processes_and_dask_give_the_serial_table(reference, cluster, tmp_path, monkeypatch):
    local, client = cluster
    tables = {
        "local": run_sweep(h.descend, GRID, executor="local", workers=2, fingerprint=FP),
        "local, 1 worker, stored": run_sweep(h.descend, GRID, executor="local", workers=1, fingerprint=FP, store=tmp_path / "a"),
        "client": run_sweep(h.descend, GRID, executor=client, fingerprint=FP, store=tmp_path / "b"),
        "address": run_sweep(h.descend, GRID, dask=local.scheduler_address, fingerprint=FP),
    }
    monkeypatch.setenv(sweep.DASK_ENV, local.scheduler_address)
    tables["WDC_DASK"] = run_sweep(h.descend, GRID, fingerprint=FP)
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, reference, obj=name)
    a, b = stored(tmp_path / "a"), stored(tmp_path / "b")
    assert [p.name for p in a] == [p.name for p in b] and len(a) == len(GRID)
    assert [json.loads(p.read_text())["result"] for p in a] == [json.loads(p.read_text())["result"] for p in b]


def test_a_store_written_on_a_cluster_is_reused_serially(reference, cluster, tmp_path, markers):
    _, client = cluster
    run_sweep(h.descend, GRID, executor=client, fingerprint=FP, store=tmp_path / "s")
    assert count(markers, "done") == 0  # the cluster's workers were started without the markers variable
    pd.testing.assert_frame_equal(run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, store=tmp_path / "s"), reference)
    assert count(markers, "start") == 0


def test_any_order_gives_the_same_rows(reference, tmp_path):
    shuffled = GRID.copy()
    random.Random(3).shuffle(shuffled)
    assert shuffled != GRID
    table = run_sweep(h.descend, shuffled, executor="local", workers=2, fingerprint=FP, store=tmp_path / "s")
    assert table[["seed", "lr"]].to_dict("records") == shuffled  # rows in the order given
    by_setting = table.sort_values(["seed", "lr"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(by_setting, reference.sort_values(["seed", "lr"]).reset_index(drop=True))
    pd.testing.assert_frame_equal(run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, store=tmp_path / "s"), reference)


def test_rerun_skips_what_is_done_and_a_new_fingerprint_reruns(tmp_path, markers, monkeypatch):
    versions = iter(["v1", "v2", "v1"])
    monkeypatch.setattr(sweep, "library_fingerprint", lambda: next(versions))
    grid = GRID[:2]
    first = run_sweep(h.descend, grid, executor="serial", store=tmp_path)
    assert count(markers, "start") == 2
    second = run_sweep(h.descend, grid, executor="serial", store=tmp_path)  # another library: computed again
    assert count(markers, "start") == 4 and len(stored(tmp_path)) == 4
    third = run_sweep(h.descend, grid, executor="serial", store=tmp_path)  # back to v1: all stored
    assert count(markers, "start") == 4
    pd.testing.assert_frame_equal(first, second)
    pd.testing.assert_frame_equal(first, third)
    assert json.loads(stored(tmp_path)[0].read_text())["fingerprint"] in ("v1", "v2")


def test_stored_only_reads_the_store_and_runs_nothing(tmp_path, markers):
    grid = GRID[:2]
    first = run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    read = run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path, stored_only=True)
    pd.testing.assert_frame_equal(read, first)
    with pytest.raises(LookupError, match=r"1 of 3 settings of .*descend have no result stored.*settings\[2\]"):
        run_sweep(h.descend, GRID[:3], executor="serial", fingerprint=FP, store=tmp_path, stored_only=True)
    with pytest.raises(LookupError, match="have no result stored"):  # another code version: nothing stored for it
        run_sweep(h.descend, grid, executor="serial", fingerprint="other", store=tmp_path, stored_only=True)
    assert count(markers, "start") == 2 and len(stored(tmp_path)) == 2


def test_stored_only_refuses_an_unreadable_file_and_creates_nothing(tmp_path, markers):
    grid = GRID[:2]
    run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    stored(tmp_path)[0].write_text("{not json")
    with pytest.raises(LookupError, match="is unreadable"):  # not a warning that it "runs again": nothing runs
        run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path, stored_only=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LookupError, match="have no result stored"):
        run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=empty, stored_only=True)
    assert list(empty.iterdir()) == []  # reading an empty store leaves it empty
    assert count(markers, "start") == 2


def test_stored_only_needs_a_store_and_a_bool(tmp_path):
    with pytest.raises(ValueError, match="stored_only=True needs a store"):
        run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, stored_only=True)
    with pytest.raises(ValueError, match="stored_only=True reads an existing store"):
        run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, store=tmp_path / "missing", stored_only=True)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(TypeError, match="stored_only must be a bool"):
        run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, store=tmp_path, stored_only="yes")


def test_default_fingerprint_is_the_code_fingerprint_of_the_records():
    from wdcompanion import training
    from wdcompanion.claims import records

    assert records.library_fingerprint is _fingerprint.library_fingerprint
    assert records.source_fingerprint is _fingerprint.source_fingerprint
    assert records.code_fingerprint is sweep.code_fingerprint is _fingerprint.code_fingerprint
    # a run function of the package: its module's code; any other: the whole library's
    assert sweep.code_fingerprint_of(training.train_mnist1d) == _fingerprint.code_fingerprint("wdcompanion.training")
    assert sweep.code_fingerprint_of(h.descend) == _fingerprint.library_fingerprint()
    setting = {"seed": 1, "lr": 0.5}
    assert sweep.result_key(h.descend, setting, "x") == sweep.result_key(h.descend, {"lr": 0.5, "seed": 1}, "x")
    assert sweep.result_key(h.descend, setting, "x") != sweep.result_key(h.descend, setting, "y")
    assert sweep.result_key(h.descend, setting, "x") != sweep.result_key(h.nonfinite, setting, "x")
    assert sweep.result_key(h.descend, setting, "x") != sweep.result_key(h.descend, {"seed": 1, "lr": 0.5, "steps": 20}, "x")


def test_sweep_imports_neither_the_claims_nor_its_optional_packages():
    code = ("import sys, wdcompanion.sweep; bad = [m for m in sys.modules if m.startswith(('wdcompanion.claims', 'wdcompanion.cli', "
            "'wdcompanion.plotting', 'torch', 'pandas', 'distributed', 'tqdm'))]; print(bad); sys.exit(bool(bad))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_worker_running_other_library_code_fails_the_sweep(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    versions = iter(["this process", "the worker", "the worker"])
    monkeypatch.setattr(sweep, "library_fingerprint", lambda: next(versions))
    with ThreadPoolExecutor(1) as pool, pytest.raises(SweepError, match="fingerprint the worker, this process this process"):
        run_sweep(h.descend, GRID[:2], executor=pool, store=tmp_path)
    assert stored(tmp_path) == []


def test_a_killed_sweep_resumes_without_duplicate_or_lost_runs(tmp_path, markers, monkeypatch):
    """The sweep's process is killed with 4 of 8 results stored and 2 runs in flight; the rerun does the other 4, once each."""
    store = tmp_path / "store"
    held = [s["seed"] for s in h.KILL_GRID[4:]]
    for seed in held:
        (markers / f"hold-{seed}").touch()
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import sweep_helpers; sweep_helpers.kill_main({str(store)!r})"
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len(stored(store)) < 4 or count(markers, "start") < 6:  # 4 done; both workers then wait on a held run
            assert driver.poll() is None and time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
            time.sleep(0.02)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    workers = {int(p.name.split("-")[2]) for p in markers.glob("start-*")}
    assert len(workers) == 2
    deadline = time.monotonic() + 20  # the workers notice that the sweep's process is gone and exit
    while any(_alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the killed sweep"
        time.sleep(0.05)
    assert len(stored(store)) == 4 and count(markers, "done") == 4
    done_first = {json.loads(p.read_text())["settings"]["seed"] for p in stored(store)}
    assert done_first == {0, 1, 2, 3}
    starts_before = {s["seed"]: count(markers, "start", s["seed"]) for s in h.KILL_GRID}
    for seed in held:
        (markers / f"hold-{seed}").unlink()

    table = run_sweep(h.descend, h.KILL_GRID, executor="local", workers=2, fingerprint="test", store=store)

    for seed in done_first:  # not run again
        assert count(markers, "start", seed) == starts_before[seed] == 1
    for seed in held:  # run again exactly once, and finished exactly once in all
        assert count(markers, "start", seed) == starts_before[seed] + 1
        assert count(markers, "done", seed) == 1
    assert len(stored(store)) == len(h.KILL_GRID)
    monkeypatch.delenv(h.MARKERS_ENV)  # the reference leaves no markers
    pd.testing.assert_frame_equal(table, run_sweep(h.descend, h.KILL_GRID, executor="serial", fingerprint="test"))


def test_ctrl_c_stops_the_workers_at_once_and_keeps_what_finished(tmp_path, markers):
    store = tmp_path / "store"
    for s in h.KILL_GRID[4:]:
        (markers / f"hold-{s['seed']}").touch()
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "  # even if started with SIGINT ignored
            f"sys.path.insert(0, {str(TESTS)!r}); import sweep_helpers; sweep_helpers.kill_main({str(store)!r})")
    with open(tmp_path / "driver.log", "w") as log:
        driver = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while len(stored(store)) < 4 or count(markers, "start") < 6:
            assert driver.poll() is None and time.monotonic() < deadline, (tmp_path / "driver.log").read_text()
            time.sleep(0.02)
        driver.send_signal(signal.SIGINT)
        driver.wait(timeout=30)  # the held runs would wait 120 s: the workers were stopped, not waited for
    finally:
        driver.kill()
        driver.wait()
    assert "KeyboardInterrupt" in (tmp_path / "driver.log").read_text()
    workers = {int(p.name.split("-")[2]) for p in markers.glob("start-*")}
    assert not any(_alive(pid) for pid in workers) and len(stored(store)) == 4


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_worker_process_that_dies_fails_the_sweep_and_the_rerun_completes(tmp_path, markers, monkeypatch):
    (markers / "crash-2").touch()
    grid = [dict(seed=s, lr=0.1) for s in (5, 6, 7, 8, 9, 2)]  # the crash is submitted last
    with pytest.raises(SweepError, match=r"settings\[5\]") as failure:
        run_sweep(h.descend, grid, executor="local", workers=2, fingerprint=FP, store=tmp_path / "s")
    assert "BrokenProcessPool" in repr(failure.value.__cause__) and failure.value.index == 5
    first = {json.loads(p.read_text())["settings"]["seed"] for p in stored(tmp_path / "s")}
    assert 1 <= len(first) <= 5 and 2 not in first
    starts = {s["seed"]: count(markers, "start", s["seed"]) for s in grid}
    table = run_sweep(h.descend, grid, executor="local", workers=2, fingerprint=FP, store=tmp_path / "s")
    for s in grid:
        assert count(markers, "start", s["seed"]) == starts[s["seed"]] + (s["seed"] not in first)
    assert count(markers, "done", 2) == 1 and len(stored(tmp_path / "s")) == len(grid)
    monkeypatch.delenv(h.MARKERS_ENV)  # the reference leaves no markers
    pd.testing.assert_frame_equal(table, run_sweep(h.descend, grid, executor="serial", fingerprint=FP))


def test_a_failing_run_stops_the_sweep_and_keeps_what_finished(tmp_path, markers):
    (markers / "fail-2").touch()
    grid = [dict(seed=s, lr=0.1) for s in range(5)]
    with pytest.raises(SweepError, match=r"settings\[2\] = .*ValueError: planted failure.*2 of 5 results stored") as failure:
        run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    assert isinstance(failure.value.__cause__, ValueError) and failure.value.setting == grid[2]
    assert count(markers, "start") == 3 and len(stored(tmp_path)) == 2
    (markers / "fail-2").unlink()
    run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    assert [count(markers, "start", s) for s in range(5)] == [1, 1, 2, 1, 1]


def _corruptions(path: Path, other: Path) -> dict:
    record = json.loads(path.read_text())
    text = path.read_text()
    assert re.search(r'"loss": [^,\n]+', text)
    return {
        "partial": text[: len(text) // 2],
        "empty": "",
        "NaN token": re.sub(r'"loss": [^,\n]+', '"loss": NaN', text, count=1),
        "wrong key": json.dumps({**record, "key": "0" * 32}),
        "missing result": json.dumps({k: v for k, v in record.items() if k != "result"}),
        "other setting": other.read_text(),
        "edited setting": json.dumps({**record, "settings": {**record["settings"], "lr": 0.2}}),
        "bad result value": json.dumps({**record, "result": {**record["result"], "loss": [1.0]}}),
        "not an object": "[1, 2]",
    }


def test_corrupt_or_partial_result_files_are_detected_and_rerun(reference, tmp_path, markers):
    grid = [dict(seed=s, lr=0.1) for s in range(10)]
    first = run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    paths = {json.loads(p.read_text())["settings"]["seed"]: p for p in stored(tmp_path)}
    corruptions = _corruptions(paths[0], paths[9])
    for seed, text in enumerate(corruptions.values()):
        paths[seed].write_text(text)
    with pytest.warns(SweepStoreWarning) as caught:
        again = run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    assert len(caught) == len(corruptions)
    assert [count(markers, "start", s) for s in range(10)] == [2] * len(corruptions) + [1] * (10 - len(corruptions))
    pd.testing.assert_frame_equal(again, first)
    assert all(json.loads(p.read_text())["key"] == p.stem for p in stored(tmp_path))


def test_non_finite_floats_round_trip_through_strict_json(tmp_path):
    grid = [dict(seed=s) for s in range(3)]
    fresh = run_sweep(h.nonfinite, grid, executor="serial", fingerprint=FP, store=tmp_path)
    read_back = run_sweep(h.nonfinite, grid, executor="serial", fingerprint=FP, store=tmp_path)
    pd.testing.assert_frame_equal(fresh, read_back)
    row = read_back.iloc[1]
    assert math.isnan(row["nan"]) and row["inf"] == math.inf and row["ninf"] == -math.inf
    assert (row["half"], row["even"], row["name"], row["count"]) == (1.5, False, "s1", 1)
    assert row["f32"] == float(h.np.float32(0.1))

    def strict(token):
        raise AssertionError(f"non-strict JSON token {token}")

    record = json.loads(stored(tmp_path)[0].read_text(), parse_constant=strict)
    assert record["result"]["nan"] == {"$float": "nan"} and record["result"]["ninf"] == {"$float": "-inf"}


def test_non_finite_settings_are_keyed_and_stored_strictly(tmp_path):
    grid = [dict(seed=1, lr=math.inf, steps=1), dict(seed=1, lr=-math.inf, steps=1), dict(seed=1, lr=math.nan, steps=1)]
    table = run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path)
    assert len(stored(tmp_path)) == 3 and table.lr.tolist()[:2] == [math.inf, -math.inf]
    assert run_sweep(h.descend, grid, executor="serial", fingerprint=FP, store=tmp_path).equals(table)


def test_frozen_dataclass_settings(tmp_path):
    points = [h.Point(seed=s, lr=0.1, widths=(2,) * (1 + s % 2)) for s in range(4)]
    table = run_sweep(h.descend_point, points, executor="local", workers=2, fingerprint=FP, store=tmp_path)
    assert list(table.columns[:3]) == ["seed", "lr", "widths"] and table.widths.tolist() == [p.widths for p in points]
    assert table.loss.tolist() == [h.descend_point(p)["loss"] for p in points]
    record = json.loads(stored(tmp_path)[0].read_text())
    assert record["settings"]["$dataclass"] == "sweep_helpers.Point"
    pd.testing.assert_frame_equal(run_sweep(h.descend_point, points, executor="serial", fingerprint=FP, store=tmp_path), table)


@pytest.mark.parametrize(("settings", "error", "match"), [
    ([{"seed": 0, "lr": 0.1}, {"seed": 1, "lr": object()}], TypeError, r"settings\[1\]\['lr'\] = <object .* not JSON-serialisable"),
    ([{"seed": 0, "lr": 0.1, "label": ("a", {"b": Path("x")})}], TypeError, r"settings\[0\]\['label'\]\[1\]\['b'\]"),
    ([{"seed": 0, "lr": 0.1}, {"seed": 1, "lr": 0.1}, {"lr": 0.1, "seed": 0}], ValueError, r"settings\[2\] repeats settings\[0\]"),
    ([{"seed": 0, "lr": 0.1}, {"lr": 0.1}], TypeError, r"settings\[1\] lacks the field 'seed', which sweep_helpers.descend requires"),
    ([{"seed": 0, "lr": 0.1, "momentum": 0.9}], TypeError, r"settings\[0\] has the field 'momentum', which .* does not accept"),
    ([{"seed": 0, "lr": 0.1}, h.Point(1, 0.1)], TypeError, r"settings\[1\] is a Point but settings\[0\] is a dict"),
    ([h.Point(1, 0.1)], TypeError, r"settings\[0\] is a Point, passed whole to sweep_helpers.descend"),
    ([{"seed": 0, "lr": 0.1}, [0, 0.1]], TypeError, r"settings\[1\] is a list"),
    ([{"seed": 0, 1: 0.1}], TypeError, r"settings\[0\] has the field name 1"),
    ([{"seed": 0, "lr": 0.1, "label": {"$float": "nan"}}], ValueError, r"settings\[0\]\['label'\] uses the reserved key"),
    ({"seed": 0, "lr": 0.1}, TypeError, "settings must be a sequence"),
])
def test_bad_settings_fail_before_any_run(settings, error, match, tmp_path, markers):
    with pytest.raises(error, match=match):
        run_sweep(h.descend, settings, executor="serial", fingerprint=FP, store=tmp_path / "s")
    assert count(markers, "start") == 0 and not (tmp_path / "s").exists()


def test_bad_dataclass_settings_and_functions(tmp_path):
    with pytest.raises(TypeError, match=r"settings\[0\] is an instance of MutablePoint, a dataclass that is not frozen"):
        run_sweep(h.descend_point, [h.MutablePoint(1, 0.1)], executor="serial")
    with pytest.raises(TypeError, match="lambda or a local function"):
        run_sweep(lambda seed: {"x": seed}, [{"seed": 1}], executor="serial", store=tmp_path)

    def local(seed):
        return {"x": seed}

    with pytest.raises(TypeError, match="lambda or a local function, which worker processes cannot import"):
        run_sweep(local, [{"seed": 1}], executor="local")
    assert run_sweep(local, [{"seed": 1}], executor="serial").x.tolist() == [1]  # in process, nothing stored: fine
    with pytest.raises(TypeError, match="fn must be a function defined with def"):
        run_sweep(__import__("functools").partial(h.descend, lr=0.1), [{"seed": 1}], executor="serial")


def test_bad_arguments():
    with pytest.raises(ValueError, match="workers applies to executor='local' only"):
        run_sweep(h.descend, GRID, executor="serial", workers=2)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        run_sweep(h.descend, GRID, workers=0)
    with pytest.raises(ValueError, match="either executor or dask"):
        run_sweep(h.descend, GRID, executor="serial", dask="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="executor must be 'local', 'serial'"):
        run_sweep(h.descend, GRID, executor="threads")
    with pytest.raises(TypeError, match="dask must be a scheduler address"):
        run_sweep(h.descend, GRID, dask=8786)
    with pytest.raises(TypeError, match="progress must be a bool or None"):
        run_sweep(h.descend, GRID, executor="serial", progress=1)
    with pytest.raises(TypeError, match="fingerprint must be a non-empty str"):
        run_sweep(h.descend, GRID, executor="serial", fingerprint="")


@pytest.mark.parametrize(("fn", "match"), [
    (h.not_a_mapping, "returned a list; a run returns a mapping"),
    (h.bad_value, r"returned the result field 'value' = \[0\] of type list"),
    (h.clashing, "returned the result field 'seed', which is also a setting field"),
])
def test_bad_results_fail_the_sweep_and_are_not_stored(fn, match, tmp_path):
    with pytest.raises(SweepError, match=match):
        run_sweep(fn, [{"seed": 0}], executor="serial", store=tmp_path, fingerprint=FP)
    assert stored(tmp_path) == []


def test_local_workers_share_the_cores_without_oversubscribing(monkeypatch):
    for name in sweep._THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    table = run_sweep(h.threads, [{"seed": s} for s in range(2)], executor="local", workers=2, fingerprint=FP)
    expected = max(1, sweep._available_cores() // 2)
    assert table.torch_threads.tolist() == [expected] * 2 and table.omp.tolist() == [str(expected)] * 2
    monkeypatch.setattr(sweep, "_available_cores", lambda: 16)
    assert (sweep._worker_threads(4), sweep._worker_threads(32)) == (4, 1)
    monkeypatch.setenv("MKL_NUM_THREADS", "2")  # a cap set by the caller (the perturbed-numerics stage sets 1) holds
    assert sweep._worker_threads(4) == 2


def test_a_local_pool_kept_across_sweeps(reference, markers):
    with sweep.local_executor(2) as pool:
        first = run_sweep(h.descend, GRID, executor=pool, fingerprint=FP)
        second = run_sweep(h.descend, GRID[::-1], executor=pool, fingerprint=FP)
        assert pool.submit(sum, [1, 2]).result() == 3  # run_sweep left it open
        pool_pids = {str(pid) for pid in pool._processes}
    assert count(markers, "start") == 2 * len(GRID)
    assert {p.name.split("-")[2] for p in markers.glob("start-*")} <= pool_pids and len(pool_pids) <= 2  # no other process ran
    pd.testing.assert_frame_equal(first, reference)
    pd.testing.assert_frame_equal(second.iloc[::-1].reset_index(drop=True), reference)
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        sweep.local_executor(0)


def test_progress_bar_only_when_asked(capsys, monkeypatch):
    monkeypatch.delenv(sweep.PROGRESS_ENV, raising=False)
    run_sweep(h.descend, GRID, executor="serial", fingerprint=FP)
    assert capsys.readouterr() == ("", "")
    run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "6/6" in err and "run" in err
    monkeypatch.setenv(sweep.PROGRESS_ENV, "1")  # what `wdc check --progress` sets
    run_sweep(h.descend, GRID, executor="serial", fingerprint=FP)
    assert "6/6" in capsys.readouterr().err
    run_sweep(h.descend, GRID, executor="serial", fingerprint=FP, progress=False)
    assert capsys.readouterr() == ("", "")


def test_empty_sweep():
    assert run_sweep(h.descend, [], executor="serial").empty
