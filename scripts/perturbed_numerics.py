"""Run a command under floating-point numerics that differ from this machine's native ones.

Usage: ``python scripts/perturbed_numerics.py [--probe-only] -- COMMAND [ARG ...]``

The test command runs nbval twice: once natively, once through this script, with the same stored
outputs. What a chapter compares must therefore not depend on the last bits of its arithmetic. The
perturbation changes, relative to what this machine would do by itself:

* ``OPENBLAS_CORETYPE``: NumPy's and SciPy's OpenBLAS kernels (``Haswell``, or ``Sandybridge``
  where the native choice already is Haswell): other blockings, other summation orders;
* ``ATEN_CPU_CAPABILITY=default``: torch's own kernels without AVX2/AVX-512 vectorization
  (``avx2`` where the native choice already is the default);
* ``MKL_CBWR=COMPATIBLE``: MKL's (torch's BLAS on x86-64) reproducible, non-native code path;
* one thread instead of several (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``):
  parallel reductions split their sums differently.

Before the command, a probe shows that the perturbation does change low bits here: a short torch
training and a NumPy/SciPy eigen-decomposition are run natively and perturbed, and their results
compared bit for bit. A perturbation that changed nothing would prove nothing, so the script fails
if the torch training (the chaotic part of the book) comes out bit-identical.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# A short, chaotic training (its last bits differ under the perturbation); tests/test_perturbation.py
# plants its final loss in a notebook.
TRAINING = r"""
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.BatchNorm1d(256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
x, y = torch.randn(512, 64), torch.randint(0, 10, (512,))
for _ in range(50):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
"""

PROBE = TRAINING + r"""
import hashlib, json
import numpy as np, scipy.linalg
weights = torch.cat([p.detach().ravel() for p in model.parameters()]).double().numpy()
a = np.random.default_rng(0).standard_normal((300, 300))
eig = scipy.linalg.eigh(a @ a.T, eigvals_only=True)
def digest(v):
    return hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()
print(json.dumps({"torch": digest(weights), "numpy": digest(eig), "capability": torch.backends.cpu.get_cpu_capability(),
                  "threads": torch.get_num_threads()}))
"""


def native_openblas_core() -> str | None:
    """The OpenBLAS core type NumPy picked on this machine (None without threadpoolctl or OpenBLAS)."""
    try:
        import numpy  # noqa: F401  (loads the BLAS that threadpoolctl inspects)
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return next((info.get("architecture") for info in threadpool_info() if info.get("internal_api") == "openblas"), None)


def perturbed_environment(native: dict, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the perturbed run: ``base`` (default ``os.environ``) with the variables above."""
    env = dict(os.environ if base is None else base)
    core = native_openblas_core()
    env["OPENBLAS_CORETYPE"] = "Sandybridge" if (core or "").lower() == "haswell" else "Haswell"
    env["ATEN_CPU_CAPABILITY"] = "avx2" if native["capability"].lower() in ("default", "no avx") else "default"
    env["MKL_CBWR"] = "COMPATIBLE"
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = "1"
    return env


def probe(env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probe-only", action="store_true", help="only show what the perturbation changes")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command and not args.probe_only:
        parser.error("give a command after --")
    native = probe()
    env = perturbed_environment(native)
    perturbed = probe(env)
    changed = {key: native[key] != perturbed[key] for key in ("torch", "numpy")}
    shown = {k: env[k] for k in ("OPENBLAS_CORETYPE", "ATEN_CPU_CAPABILITY", "MKL_CBWR", "OMP_NUM_THREADS")}
    print(f"perturbed numerics: {' '.join(f'{k}={v}' for k, v in shown.items())} "
          f"(native: OpenBLAS {native_openblas_core()}, torch {native['capability']}, {native['threads']} threads)")
    print(f"probe, bits changed by the perturbation: torch training {changed['torch']}, NumPy/SciPy eigh {changed['numpy']}")
    if not changed["torch"]:
        print("the perturbation leaves a torch training bit-identical here, so it would test nothing", file=sys.stderr)
        return 1
    if args.probe_only:
        return 0
    start = time.perf_counter()
    code = subprocess.run(command, env=env).returncode
    print(f"perturbed run took {time.perf_counter() - start:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
