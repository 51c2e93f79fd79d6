"""wdcompanion: the library behind the weight-decay companion book.

Topic modules: :mod:`~wdcompanion.dmf` (regularized deep matrix factorization),
:mod:`~wdcompanion.multistart` (batched multistart minimization), :mod:`~wdcompanion.curvature`,
:mod:`~wdcompanion.rotation` (with :mod:`~wdcompanion.averaging`), :mod:`~wdcompanion.optim`, :mod:`~wdcompanion.nets`; claim checks live in
:mod:`wdcompanion.claims`, the command line in :mod:`wdcompanion.cli`.

Importing the package changes no global state: torch's and NumPy's kernels, threads and seeds are
the caller's own (each experiment seeds itself from its settings).
"""

__version__ = "0.1.0"
