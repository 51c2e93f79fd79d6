"""wdcompanion: the library behind the weight-decay companion book.

Topic modules: :mod:`~wdcompanion.dmf` (regularized deep matrix factorization),
:mod:`~wdcompanion.multistart` (batched multistart minimization); claim checks live in
:mod:`wdcompanion.claims`, the command line in :mod:`wdcompanion.cli`.

Importing the package pins torch's CPU kernels on x86-64 (see :mod:`wdcompanion._determinism`),
so that stored outputs are reproduced bit for bit on other CPUs.
"""

from ._determinism import pin_cpu_kernels

pin_cpu_kernels()

__version__ = "0.1.0"
