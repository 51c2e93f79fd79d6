"""Pin the CPU kernels that torch dispatches to, so long training runs give the same bits on any x86-64 CPU.

Intel MKL (torch's BLAS on x86-64), ATen and oneDNN choose kernels by the CPU they run on: AVX-512
on one machine, AVX2 on another, yet another path on AMD processors. Their results differ in the
last bits, and a network trained for thousands of steps amplifies such differences until the stored
notebook outputs (compared strictly by nbval) no longer match. Pinning

* ``MKL_CBWR=COMPATIBLE``: MKL's conditional numerical reproducibility branch, the one its
  documentation offers for Intel and non-Intel processors alike,
* ``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2``: the same vector instructions on every CPU,

leaves results depending on the number of threads only (the checks use two). The cost is about a
quarter more time in the network chapters. A value already in the environment is kept, so a user can
lift the pin (for example ``MKL_CBWR=AUTO``); the variables are read when torch first computes, so
the pin takes effect only if :mod:`wdcompanion` is imported before torch is used.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings

PINNED_KERNELS = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}


def pin_cpu_kernels() -> dict[str, str]:
    """Set the variables of :data:`PINNED_KERNELS` that are unset (x86-64 only); return those now in force."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    for name, value in PINNED_KERNELS.items():
        os.environ.setdefault(name, value)
    torch = sys.modules.get("torch")
    if torch is not None and os.environ["ATEN_CPU_CAPABILITY"] == "avx2" and torch.backends.cpu.get_cpu_capability() == "AVX512":
        warnings.warn("torch was used before wdcompanion was imported, so its CPU kernels are not pinned: results "
                      "may differ in the last bits from the stored outputs; import wdcompanion first", stacklevel=3)
    return {name: os.environ[name] for name in PINNED_KERNELS}
