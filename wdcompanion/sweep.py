"""Grids of runs: one function over many settings, resumable, on local processes or a Dask cluster.

:func:`run_sweep` calls a run function once per setting and returns one table row per setting.
What it guarantees:

- **Seeds come from the settings.** The runner passes each run its setting and nothing else: no
  global counter, no seed, no worker index. A run that needs randomness seeds itself from its
  setting (a ``seed`` field), so a run's result does not depend on where, when or next to what it ran.
- **Resumable.** With ``store=DIR``, each finished run is written at once (to a temporary file, then
  ``os.replace``: a reader never sees half a file) to ``DIR/<function>/<key>.json``, where the key
  hashes the function's qualified name, the canonical JSON of the setting and the fingerprint of the
  code it runs (:func:`code_fingerprint_of`: for a function of this package, its module and the
  package modules that module imports, the fingerprint verdict records carry as ``code_fingerprint``;
  for any other function, the whole library's). Calling the same sweep again runs only what has no
  valid result, so an interrupted sweep (a killed job, a lost machine, Ctrl-C) resumes and loses at
  most the runs that were in flight. Changing that code changes the fingerprint, and results
  computed by other code are not reused; an edit elsewhere in the library leaves them valid.
- **Verified.** Every stored file holds its key, function, fingerprint, setting and result; a file
  that does not parse or whose contents do not match what the key stands for (a partial write by
  other tools, an edited or swapped file, a missing field) is reported with a
  :class:`SweepStoreWarning` and rerun, never used.
- **The same table everywhere.** Rows are in the order of the given settings; columns are the
  setting's fields then the result's fields (in order of first appearance). Values go through the
  same JSON encoding whether a run was just computed or read back, so the table is identical for any
  executor, any number of workers, any order of completion, and for fresh or resumed sweeps. (The
  runner adds no difference of its own; a run's arithmetic is its own affair: another CPU, or torch
  running with another number of threads, can change its last bits, see the book's "The same numbers
  on another machine".)
- **Checked before anything runs.** Settings that are not JSON-serialisable, repeated settings, a
  field the function requires but a setting lacks, or a field it does not accept raise
  ``TypeError``/``ValueError`` naming the setting and the field before the first run starts.

Stored JSON is strict (no ``NaN`` tokens): a non-finite float, in a setting or a result, is written as
``{"$float": "nan"}``, ``{"$float": "inf"}`` or ``{"$float": "-inf"}`` and read back as that float.
(Settings therefore must not contain a dict whose keys are exactly ``"$float"`` or ``"$dataclass"``.)

Executors (``executor=``):

- ``"local"`` (the default when no Dask cluster is named): separate processes on this machine
  (``concurrent.futures.ProcessPoolExecutor``, ``spawn`` start method), ``workers`` of them
  (default: every core this process may use). Each worker limits torch and the BLAS libraries to
  ``cores // workers`` threads (or fewer, where ``OMP_NUM_THREADS`` and the like already say so), so
  the machine is not oversubscribed, and exits if the sweep's process dies.
- ``"serial"``: in this process, in order (tests, notebooks, debugging).
- a Dask cluster: ``dask="tcp://host:8786"``, the ``WDC_DASK`` environment variable, or a
  ``distributed.Client`` (passed as ``executor`` or ``dask``). The runs go through Dask's
  ``concurrent.futures`` interface; results are stored by this process, so the workers need the same
  library but not the store's file system. Needs the optional extra ``wdcompanion[cluster]``.
- any ``concurrent.futures.Executor`` you manage yourself (it is not shut down), for instance
  :func:`local_executor`, the local pool kept across several sweeps.

With a process pool or a cluster, ``fn`` must be importable by the workers: a function defined with
``def`` at the top level of a module (or of a script run with ``python script.py``), not a lambda,
a closure or a function defined in a notebook (Dask can ship those; a process pool cannot). As with any
``spawn`` process pool, a script that sweeps locally keeps its top-level work under
``if __name__ == "__main__":`` (each worker imports the script). Ctrl-C stops a local sweep at once,
its workers included, and what had finished is stored (with a pool you pass in yourself, the runs
already started finish first; the others are cancelled).

Example, the shape a claim module would use (``train_one`` at module level, seeded by its setting)::

    from wdcompanion.sweep import run_sweep, store_from_env

    def train_one(*, optimizer: str, lr: float, weight_decay: float, seed: int, steps: int) -> dict[str, float]:
        torch.manual_seed(seed)
        ...  # a short training
        return {"final_loss": loss, "equilibrium_angle": angle}

    grid = [dict(optimizer=o, lr=lr, weight_decay=0.1, seed=s, steps=scale["steps"])
            for o in ("adamw", "sgdm") for lr in (0.01, 0.02) for s in range(3)]
    table = run_sweep(train_one, grid, store=store_from_env())   # a pandas DataFrame, one row per setting
    table.groupby(["optimizer", "lr"]).final_loss.mean()

The same call runs on a cluster with ``WDC_DASK=tcp://scheduler:8786`` in the environment. A claim's
frozen settings dataclass can be the setting itself: ``run_sweep(run_one, [replace(SMALL, seed=s) for s
in range(5)])`` calls ``run_one(settings)`` with each instance (``run_one`` returning a mapping of
numbers, for instance the scalar fields of a result), and the table's setting columns are the
dataclass's fields.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import inspect
import json
import math
import multiprocessing
import numbers
import os
import platform
import re
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._fingerprint import PACKAGE, code_fingerprint, library_fingerprint

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DASK_ENV",
    "PROGRESS_ENV",
    "STORE_ENV",
    "STORE_FORMAT",
    "SweepError",
    "SweepStoreWarning",
    "canonical_json",
    "code_fingerprint_of",
    "local_executor",
    "result_key",
    "run_sweep",
    "store_from_env",
]

DASK_ENV = "WDC_DASK"
"""Environment variable naming a Dask scheduler (``tcp://host:8786``) that :func:`run_sweep` uses by default."""
PROGRESS_ENV = "WDC_PROGRESS"
"""Environment variable: ``1`` turns on :func:`run_sweep`'s progress bar where the caller leaves ``progress=None``
(``wdc check`` sets it for paper-scale runs, so the claims' sweeps show progress on the command line)."""
STORE_ENV = "WDC_SWEEP_STORE"
"""Environment variable naming a results folder (read by :func:`store_from_env`, never implicitly)."""
STORE_FORMAT = "wdcompanion.sweep/1"
"""The ``format`` field of every stored result; part of every key."""

_FLOAT_TAG = "$float"
_DATACLASS_TAG = "$dataclass"
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_RESULT_TYPES = "bool, int, float or str"


class SweepError(RuntimeError):
    """A run failed. Results that had finished are stored (and, in a local pool, those in flight then); rerun to resume.

    ``index`` is the failed setting's position in the given settings, ``setting`` the setting itself;
    the run's own exception is the ``__cause__``.
    """

    def __init__(self, message: str, index: int, setting: Any) -> None:
        super().__init__(message)
        self.index = index
        self.setting = setting


class SweepStoreWarning(UserWarning):
    """A stored result file was unreadable or did not match its key; the run is done again."""


def store_from_env() -> Path | None:
    """The folder named by ``$WDC_SWEEP_STORE``, or ``None`` (no store: every run is computed)."""
    value = os.environ.get(STORE_ENV, "").strip()
    return Path(value) if value else None


# --- canonical JSON ----------------------------------------------------------------------------


def _float_json(value: float) -> Any:
    if math.isfinite(value):
        return value
    return {_FLOAT_TAG: "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _encode(value: Any, where: str) -> Any:
    """``value`` as strict-JSON data (see the module docstring), or ``TypeError`` naming ``where``."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return _float_json(float(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        return {_DATACLASS_TAG: f"{cls.__module__}.{cls.__qualname__}",
                "fields": {f.name: _encode(getattr(value, f.name), f"{where}.{f.name}") for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where} has the key {key!r} of type {type(key).__name__}: keys must be str")
            if key in (_FLOAT_TAG, _DATACLASS_TAG):
                raise ValueError(f"{where} uses the reserved key {key!r}")
            out[key] = _encode(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [_encode(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise TypeError(f"{where} = {value!r} (of type {type(value).__name__}) is not JSON-serialisable: a setting holds None, "
                    "bool, int, float, str, and lists, tuples, dicts (str keys) and dataclasses of those")


def _dumps(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(setting: Mapping[str, Any] | Any) -> str:
    """The canonical JSON of a setting (a mapping or a dataclass instance): sorted keys, no spaces, strict.

    Tuples and lists encode alike; ``1`` and ``1.0`` do not; a dataclass carries its qualified type name.
    Raises ``TypeError`` naming the first field that cannot be encoded.
    """
    return _dumps(_encode(setting, "setting"))


def _key(function: str, settings_json: str, fingerprint: str) -> str:
    material = _dumps({"format": STORE_FORMAT, "function": function, "settings": settings_json, "fingerprint": fingerprint})
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def result_key(fn: Callable[..., Any], setting: Mapping[str, Any] | Any, fingerprint: str | None = None) -> str:
    """The store key (32 hex digits) of ``fn``'s run on ``setting`` under ``fingerprint`` (default: this library's)."""
    return _key(_function_name(fn), canonical_json(setting), code_fingerprint_of(fn) if fingerprint is None else fingerprint)


def code_fingerprint_of(fn: Callable[..., Any]) -> str:
    """The fingerprint results of ``fn`` are stored under by default: the code fingerprint of its module (that
    module's source and the library modules it imports, directly or through others) when that module is part
    of this package, else the whole library's fingerprint (the code of a function outside the package cannot
    be read, but the library it calls can)."""
    module = getattr(fn, "__module__", None)
    if isinstance(module, str) and module.startswith(PACKAGE + "."):
        return code_fingerprint(module)
    return library_fingerprint()


def _encode_result(out: Any, function: str) -> dict[str, Any]:
    if not isinstance(out, Mapping):
        raise TypeError(f"{function} returned a {type(out).__name__}; a run returns a mapping of result fields to {_RESULT_TYPES}")
    encoded = {}
    for name, value in out.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{function} returned the result field name {name!r}; names are non-empty str")
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, (bool, str)):
            encoded[name] = value
        elif isinstance(value, numbers.Integral):
            encoded[name] = int(value)
        elif isinstance(value, numbers.Real):
            encoded[name] = _float_json(float(value))
        else:
            raise TypeError(f"{function} returned the result field {name!r} = {value!r} of type {type(value).__name__}; "
                            f"result fields are {_RESULT_TYPES}")
    return encoded


def _decode_result(data: Any) -> dict[str, Any]:
    """The result fields of stored data, or ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("'result' is not an object")
    out = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise ValueError(f"result field name {name!r} is not a str")
        if isinstance(value, dict) and set(value) == {_FLOAT_TAG} and value[_FLOAT_TAG] in _NONFINITE:
            out[name] = _NONFINITE[value[_FLOAT_TAG]]
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            raise ValueError(f"result field {name!r} holds {value!r}")
    return out


# --- the function and the settings ---------------------------------------------------------------


def _function_name(fn: Callable[..., Any]) -> str:
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {fn!r} of type {type(fn).__name__}")
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(f"fn must be a function defined with def (it names the stored results), got {fn!r}; "
                        "wrap a functools.partial or a callable object in a module-level function")
    return f"{module}.{qualname}"


def _check_importable(fn: Callable[..., Any]) -> None:
    """Worker processes find ``fn`` by module and qualified name: check that they can."""
    module_name, qualname = fn.__module__, fn.__qualname__
    hint = "define it with def at the top level of a module, or use executor='serial' (or a Dask cluster)"
    if "<" in qualname:
        raise TypeError(f"fn {module_name}.{qualname} is a lambda or a local function, which worker processes cannot import; {hint}")
    if module_name == "__main__" and not getattr(sys.modules.get("__main__"), "__file__", None):
        raise TypeError(f"fn {qualname} is defined in __main__ of a notebook or an interactive session, which worker processes "
                        f"cannot import; {hint}")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise TypeError(f"fn cannot be imported as {module_name}.{qualname}; {hint}") from error
    if target is not fn:
        raise TypeError(f"{module_name}.{qualname} is not fn itself (was it redefined or decorated?); {hint}")


@dataclasses.dataclass(frozen=True)
class _Run:
    index: int
    setting: Any  # as given: a mapping, or a dataclass instance
    fields: dict[str, Any]  # the setting's top-level fields, values as given (the table's setting columns)
    settings_json: str
    key: str


def _setting_fields(setting: Any, i: int) -> tuple[dict[str, Any], bool]:
    """The setting's top-level fields and whether ``fn`` takes it whole (a dataclass) rather than as keywords."""
    if dataclasses.is_dataclass(setting) and not isinstance(setting, type):
        if not type(setting).__dataclass_params__.frozen:
            raise TypeError(f"settings[{i}] is an instance of {type(setting).__name__}, a dataclass that is not frozen; "
                            "declare it with @dataclass(frozen=True) so that a setting cannot change after it is keyed")
        return {f.name: getattr(setting, f.name) for f in dataclasses.fields(setting)}, True
    if isinstance(setting, Mapping):
        for name in setting:
            if not isinstance(name, str) or not name.isidentifier():
                raise TypeError(f"settings[{i}] has the field name {name!r}; field names are identifiers (fn's keyword arguments)")
        return dict(setting), False
    raise TypeError(f"settings[{i}] is a {type(setting).__name__}; a setting is a mapping of field names to values "
                    "or a frozen dataclass instance")


def _check_call(signature: inspect.Signature | None, function: str, fields: dict[str, Any], whole: bool, setting: Any,
                i: int) -> None:
    if signature is None:
        return
    if whole:
        try:
            signature.bind(setting)
        except TypeError as error:
            raise TypeError(f"settings[{i}] is a {type(setting).__name__}, passed whole to {function}, which cannot take it "
                            f"as its one argument: {error}") from None
        return
    params = signature.parameters
    var_keyword = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for name in fields:
        p = params.get(name)
        if (p is None and not var_keyword) or (p is not None and p.kind in (p.POSITIONAL_ONLY, p.VAR_POSITIONAL, p.VAR_KEYWORD)):
            raise TypeError(f"settings[{i}] has the field {name!r}, which {function} does not accept as a keyword "
                            f"(its parameters: {', '.join(params)})")
    for p in params.values():
        if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in fields:
            raise TypeError(f"settings[{i}] lacks the field {p.name!r}, which {function} requires")
        if p.default is p.empty and p.kind is p.POSITIONAL_ONLY:
            raise TypeError(f"{function} has the positional-only parameter {p.name!r}; settings are passed as keywords")


def _prepare(fn: Callable[..., Any], settings: Any, function: str, fingerprint: str) -> list[_Run]:
    if isinstance(settings, (str, bytes, Mapping)) or not isinstance(settings, Iterable) or dataclasses.is_dataclass(settings):
        raise TypeError(f"settings must be a sequence of settings (mappings or frozen dataclass instances), got {type(settings).__name__}")
    settings = list(settings)
    try:
        signature: inspect.Signature | None = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: the call itself will tell
        signature = None
    runs: list[_Run] = []
    seen: dict[str, int] = {}
    kind: tuple[bool, type] | None = None
    for i, setting in enumerate(settings):
        fields, whole = _setting_fields(setting, i)
        this_kind = (whole, type(setting) if whole else Mapping)
        if kind is None:
            kind = this_kind
        elif this_kind != kind:
            raise TypeError(f"settings[{i}] is a {type(setting).__name__} but settings[0] is a {type(settings[0]).__name__}; "
                            "all settings of a sweep are mappings, or all instances of one dataclass")
        _check_call(signature, function, fields, whole, setting, i)
        settings_json = _dumps(_encode(setting, f"settings[{i}]"))
        if settings_json in seen:
            raise ValueError(f"settings[{i}] repeats settings[{seen[settings_json]}] ({settings_json}); each setting is run once")
        seen[settings_json] = i
        runs.append(_Run(i, setting, fields, settings_json, _key(function, settings_json, fingerprint)))
    return runs


# --- the store ---------------------------------------------------------------------------------------


def _store_dir(store: Path, function: str) -> Path:
    return store / re.sub(r"[^A-Za-z0-9._-]", "_", function)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _reject_constant(token: str) -> None:
    raise ValueError(f"the non-standard token {token}")


def _read_stored(path: Path, run: _Run, function: str, fingerprint: str) -> dict[str, Any]:
    """The stored result of ``run``, or ``ValueError`` saying why the file cannot be used."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"not valid strict JSON ({error})") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    for name in ("format", "key", "function", "fingerprint", "settings", "result"):
        if name not in data:
            raise ValueError(f"the field {name!r} is missing")
    expected = {"format": STORE_FORMAT, "key": run.key, "function": function, "fingerprint": fingerprint}
    for name, value in expected.items():
        if data[name] != value:
            raise ValueError(f"its {name} is {data[name]!r}, not {value!r}")
    try:
        settings_json = _dumps(data["settings"])
    except (TypeError, ValueError):
        settings_json = None
    if settings_json != run.settings_json:
        raise ValueError(f"it holds the setting {data['settings']!r}, not {run.settings_json}")
    return _decode_result(data["result"])


def _record(run: _Run, function: str, fingerprint: str, result: dict[str, Any], elapsed_s: float) -> str:
    return json.dumps({
        "format": STORE_FORMAT,
        "key": run.key,
        "function": function,
        "fingerprint": fingerprint,
        "settings": json.loads(run.settings_json),
        "result": result,
        "elapsed_s": round(elapsed_s, 6),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
    }, indent=1, ensure_ascii=False, allow_nan=False)  # not sort_keys: the result's field order is the table's column order


# --- where runs run ----------------------------------------------------------------------------------


def _execute(fn: Callable[..., Any], argument: Any, whole: bool, function: str, check_fingerprint: bool) -> dict[str, Any]:
    """One run, where it runs: the encoded result, its time, and (if asked) that process's code fingerprint."""
    start = time.perf_counter()
    out = fn(argument) if whole else fn(**argument)
    elapsed = time.perf_counter() - start
    return {"result": _encode_result(out, function), "elapsed_s": elapsed,
            "fingerprint": code_fingerprint_of(fn) if check_fingerprint else None}


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _worker_threads(workers: int) -> int:
    """``cores // workers`` (at least 1), or fewer where this process's environment caps the threads lower."""
    threads = max(1, _available_cores() // workers)
    for name in _THREAD_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            threads = min(threads, int(value))
    return threads


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:  # the sweep's process died: this worker's result has nowhere to go
            os._exit(1)
        time.sleep(0.5)


def _init_worker(threads: int, parent_pid: int) -> None:
    """In each local worker process: ``threads`` threads for torch and BLAS; exit when the sweep's process dies.

    A fresh (spawned) worker has not imported torch or NumPy yet, and both read these variables when they
    load; torch is told directly if it is already loaded. (Importing torch here would cost every worker
    seconds even when the runs do not use it.)
    """
    for name in _THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="wdc-sweep-parent-watch", daemon=True).start()


def local_executor(workers: int | None = None) -> cf.ProcessPoolExecutor:
    """The process pool that ``executor="local"`` uses, to keep across several sweeps (shut it down yourself).

    ``workers`` processes (default: the cores this process may use), started with ``spawn`` when the
    first run is submitted; each limits torch and BLAS to ``cores // workers`` threads (fewer if
    ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` or ``OPENBLAS_NUM_THREADS`` in this process's environment
    says fewer) and exits if this process dies. Reusing one pool saves each later sweep the workers' start-up (a second or more each:
    a fresh interpreter imports torch). Use it as a context manager::

        with local_executor(4) as pool:
            a = run_sweep(train_one, grid_a, executor=pool, store=store)
            b = run_sweep(train_one, grid_b, executor=pool, store=store)
    """
    if workers is None:
        workers = _available_cores()
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1 or None, got {workers!r}")
    return cf.ProcessPoolExecutor(max_workers=int(workers), mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker,
                                  initargs=(_worker_threads(int(workers)), os.getpid()))


def _is_dask_client(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "distributed" and hasattr(obj, "get_executor")


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as error:
        raise ImportError("a Dask cluster needs dask.distributed: pip install 'wdcompanion[cluster]'") from error
    return distributed


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a local pool now (after Ctrl-C, say): cancel what waits, kill the workers mid-run."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
    for process in processes:
        process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def _resolve_executor(executor: Any, dask: Any, workers: int | None) -> tuple[str, Any]:
    """``(kind, target)``: ``("serial", None)``, ``("local", workers)``, ``("dask", address or client)`` or ``("executor", it)``."""
    if executor is None:
        dask = dask if dask is not None else (os.environ.get(DASK_ENV, "").strip() or None)
        executor = "dask" if dask is not None else "local"
    elif dask is not None:
        raise ValueError("give either executor or dask, not both")
    if _is_dask_client(executor):
        executor, dask = "dask", executor
    if workers is not None and executor != "local":
        raise ValueError(f"workers applies to executor='local' only (here: {executor!r})")
    if isinstance(executor, str):
        if executor in ("serial", "local"):
            return executor, workers
        if executor == "dask":
            if not (isinstance(dask, str) or _is_dask_client(dask)):
                raise TypeError(f"dask must be a scheduler address such as 'tcp://host:8786' or a distributed.Client, got {dask!r}")
            return "dask", dask
    elif isinstance(executor, cf.Executor):
        return "executor", executor
    raise ValueError(f"executor must be 'local', 'serial', a concurrent.futures.Executor or a distributed.Client, got {executor!r}")


@contextlib.contextmanager
def _open_executor(kind: str, target: Any, pending: int) -> Iterator[cf.Executor | None]:
    """The executor to submit runs to (``None``: run serially in this process); closes what it opened."""
    if kind == "serial":
        yield None
    elif kind == "local":
        pool = local_executor(min(target if target is not None else _available_cores(), pending))
        try:
            yield pool
        except BaseException:
            _terminate(pool)
            raise
        pool.shutdown(wait=True)
    elif kind == "dask":
        client = _import_distributed().Client(target, set_as_default=False) if isinstance(target, str) else target
        try:
            pool = client.get_executor(pure=False)
            try:
                yield pool
            except BaseException:
                pool.shutdown(wait=False)
                raise
            pool.shutdown(wait=True)
        finally:
            if client is not target:
                client.close()
    else:
        yield target


# --- the sweep -----------------------------------------------------------------------------------------


def run_sweep(
    fn: Callable[..., Mapping[str, Any]],
    settings: Iterable[Mapping[str, Any]] | Iterable[Any],
    *,
    store: str | os.PathLike[str] | None = None,
    executor: str | cf.Executor | Any | None = None,
    dask: str | Any | None = None,
    workers: int | None = None,
    fingerprint: str | None = None,
    progress: bool | None = None,
    stored_only: bool = False,
) -> pd.DataFrame:
    """Run ``fn`` once per setting and return the table of settings and results (see the module docstring).

    :param fn: A module-level function. Called as ``fn(**setting)`` for mapping settings, or ``fn(setting)`` for
        frozen dataclass settings; returns a mapping of result fields to bool, int, float or str
        (NumPy scalars are accepted). It must seed itself from its setting: the runner passes nothing else.
    :param settings: Mappings (all of them), or instances of one frozen dataclass; JSON-serialisable, no two alike.
    :param store: A folder for results (created if missing): finished runs are stored as they finish and reused by
        a later call with the same function, setting and fingerprint. ``None``: nothing is stored.
    :param executor: ``"local"`` (processes on this machine), ``"serial"`` (this process), a
        ``concurrent.futures.Executor`` (not shut down), or a ``distributed.Client``. ``None``
        (default): the Dask cluster named by ``dask`` or ``$WDC_DASK`` if any, else ``"local"``.
    :param dask: A Dask scheduler address (``"tcp://host:8786"``: a client is opened and closed here) or a
        ``distributed.Client``. Not together with ``executor``.
    :param workers: Number of local processes (``executor="local"`` only; default: the cores this process may use).
        Never more are started than there are runs to do.
    :param fingerprint: The code version results belong to (default: :func:`code_fingerprint_of` ``fn``, computed
        once per call). With the default, each run's worker reports its own, and a worker running other code
        fails the sweep instead of storing under the wrong key.
    :param progress: Show a tqdm progress bar with an ETA on stderr. ``None`` (default): only where
        ``$WDC_PROGRESS`` is ``1`` (never in a notebook's stored outputs unless someone sets it there).
    :param stored_only: Only read ``store`` (required then, an existing folder; nothing is created in it): nothing
        runs, and a setting without a readable stored result under the current fingerprint raises ``LookupError``
        (how a page shows archived paper-scale runs without ever starting them).

    :returns: A ``pandas.DataFrame``: one row per setting, in the given order: the setting's fields (values as
        given), then the result fields (a field a run did not return is missing, NaN).

    Raises ``TypeError`` or ``ValueError`` before any run, for bad arguments or settings (naming the setting
    and field).
    Raises ``LookupError`` with ``stored_only`` when a setting has no stored result or its file is unreadable.
    Raises :class:`SweepError` when a run raises (or its process dies, or it returns something other than
    result fields): runs not yet started are cancelled, those already running in a local pool finish and are
    stored (a Dask cluster may cancel them too); the run's exception is the cause. Calling again resumes.
    """
    function = _function_name(fn)
    if fingerprint is not None and (not isinstance(fingerprint, str) or not fingerprint):
        raise TypeError(f"fingerprint must be a non-empty str or None, got {fingerprint!r}")
    if progress is None:
        progress = os.environ.get(PROGRESS_ENV, "").strip() == "1"
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be a bool or None, got {progress!r}")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or workers < 1):
        raise ValueError(f"workers must be an integer >= 1 or None, got {workers!r}")
    if not isinstance(stored_only, bool):
        raise TypeError(f"stored_only must be a bool, got {stored_only!r}")
    if stored_only and store is None:
        raise ValueError("stored_only=True needs a store to read")
    kind, target = _resolve_executor(executor, dask, workers)
    if store is not None and "<" in fn.__qualname__:
        raise TypeError(f"fn {function} is a lambda or a local function: its name does not identify it (nor what it captured), "
                        "so results cannot be stored under it; define it with def at the top level of a module")
    if kind == "local" or isinstance(target, cf.ProcessPoolExecutor):
        _check_importable(fn)
    check_fingerprint = fingerprint is None and kind != "serial"
    fingerprint = code_fingerprint_of(fn) if fingerprint is None else fingerprint
    runs = _prepare(fn, settings, function, fingerprint)
    folder = None
    if store is not None:
        if not isinstance(store, (str, os.PathLike)):
            raise TypeError(f"store must be a folder path or None, got {store!r}")
        if Path(store).exists() and not Path(store).is_dir():
            raise ValueError(f"store {str(store)!r} exists and is not a folder")
        folder = _store_dir(Path(store), function)
        if stored_only and not Path(store).is_dir():
            raise ValueError(f"store {str(store)!r} is not a folder: stored_only=True reads an existing store")
        if not stored_only:
            folder.mkdir(parents=True, exist_ok=True)

    results: list[dict[str, Any] | None] = [None] * len(runs)
    if folder is not None:
        for run in runs:
            path = folder / f"{run.key}.json"
            if path.exists():
                try:
                    results[run.index] = _read_stored(path, run, function, fingerprint)
                except (OSError, ValueError) as error:
                    if stored_only:
                        raise LookupError(f"the stored result {path} of settings[{run.index}] is unreadable ({error}); "
                                          "stored_only=True runs nothing") from error
                    warnings.warn(f"discarding {path} ({error}); settings[{run.index}] runs again", SweepStoreWarning, stacklevel=2)
    todo = [run for run in runs if results[run.index] is None]
    if stored_only and todo:
        raise LookupError(f"{len(todo)} of {len(runs)} settings of {function} have no result stored in {str(store)!r} under "
                          f"fingerprint {fingerprint} (the first: settings[{todo[0].index}] = {todo[0].settings_json}); "
                          "stored_only=True runs nothing")

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc=fn.__qualname__, file=sys.stderr)

    def finish(run: _Run, payload: dict[str, Any]) -> None:
        if payload["fingerprint"] is not None and payload["fingerprint"] != fingerprint:
            raise RuntimeError(f"the worker runs code fingerprint {payload['fingerprint']}, this process {fingerprint}: "
                               "install the same wdcompanion on every worker (or the source changed during the sweep)")
        result = _decode_result(payload["result"])
        clash = sorted(set(result) & set(run.fields))
        if clash:
            raise ValueError(f"{function} returned the result field {clash[0]!r}, which is also a setting field")
        if folder is not None:
            _write_atomic(folder / f"{run.key}.json", _record(run, function, fingerprint, payload["result"], payload["elapsed_s"]))
        results[run.index] = result
        if bar is not None:
            bar.update(1)

    def failed(run: _Run, error: BaseException) -> SweepError:
        stored = sum(r is not None for r in results)
        return SweepError(f"settings[{run.index}] = {run.settings_json} failed: {type(error).__name__}: {error} "
                          f"({stored} of {len(runs)} results {'stored, call again to resume' if folder else 'done'})",
                          run.index, run.setting)

    try:
        if todo:
            with _open_executor(kind, target, len(todo)) as pool:
                if pool is None:
                    for run in todo:
                        try:
                            finish(run, _execute(fn, _argument(run), _whole(run), function, False))
                        except Exception as error:
                            raise failed(run, error) from error
                else:
                    _run_pool(pool, todo, fn, function, check_fingerprint, finish, failed)
    finally:
        if bar is not None:
            bar.close()
    return _table(runs, results)


def _whole(run: _Run) -> bool:
    return not isinstance(run.setting, Mapping)


def _argument(run: _Run) -> Any:
    return run.setting if _whole(run) else run.fields


def _run_pool(pool: cf.Executor, todo: list[_Run], fn: Callable[..., Any], function: str, check_fingerprint: bool,
              finish: Callable[[_Run, dict[str, Any]], None], failed: Callable[[_Run, BaseException], SweepError]) -> None:
    """Submit every run; store each as it completes; after a failure cancel what has not started, then raise."""
    futures = {pool.submit(_execute, fn, _argument(run), _whole(run), function, check_fingerprint): run for run in todo}
    failure: tuple[_Run, BaseException] | None = None
    try:
        for future in cf.as_completed(futures):
            run = futures[future]
            if future.cancelled():
                continue
            error = future.exception()
            if error is None:
                try:
                    finish(run, future.result())
                except Exception as finish_error:
                    error = finish_error
            if error is not None and failure is None:
                failure = (run, error)
                for other in futures:
                    other.cancel()
    except BaseException:
        for other in futures:
            other.cancel()
        raise
    if failure is not None:
        raise failed(*failure) from failure[1]


def _table(runs: list[_Run], results: list[dict[str, Any] | None]) -> pd.DataFrame:
    import pandas as pd

    setting_columns: dict[str, None] = {}
    result_columns: dict[str, None] = {}
    rows = []
    for run, result in zip(runs, results, strict=True):
        assert result is not None
        setting_columns.update(dict.fromkeys(run.fields))
        result_columns.update(dict.fromkeys(result))
        rows.append({**run.fields, **result})
    return pd.DataFrame(rows, columns=[*setting_columns, *result_columns])
