import os
import subprocess
import sys

from wdcompanion import _determinism
from wdcompanion._determinism import PINNED_KERNELS, pin_cpu_kernels


def test_pins_unset_variables_on_x86_and_keeps_the_users(monkeypatch):
    monkeypatch.setattr(_determinism.platform, "machine", lambda: "x86_64")
    for name in PINNED_KERNELS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    in_force = pin_cpu_kernels()
    assert in_force == {**PINNED_KERNELS, "MKL_CBWR": "AUTO"}
    assert os.environ["ATEN_CPU_CAPABILITY"] == "avx2"


def test_leaves_other_architectures_alone(monkeypatch):
    monkeypatch.setattr(_determinism.platform, "machine", lambda: "arm64")
    for name in PINNED_KERNELS:
        monkeypatch.delenv(name, raising=False)
    assert pin_cpu_kernels() == {}
    assert not any(name in os.environ for name in PINNED_KERNELS)


def test_importing_the_package_pins_torch_in_a_fresh_process():
    env = {k: v for k, v in os.environ.items() if k not in PINNED_KERNELS}
    code = ("import wdcompanion, os, platform, torch; "
            "x86 = platform.machine().lower() in ('x86_64', 'amd64'); "
            "print(os.environ.get('MKL_CBWR') == ('COMPATIBLE' if x86 else None), "
            "torch.backends.cpu.get_cpu_capability() != 'AVX512' or not x86)")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
