"""wdcompanion: the library behind the weight-decay companion book.

Topic modules: :mod:`~wdcompanion.dmf` (regularized deep matrix factorization),
:mod:`~wdcompanion.multistart` (batched multistart minimization); claim checks live in
:mod:`wdcompanion.claims`, the command line in :mod:`wdcompanion.cli`.
"""

__version__ = "0.1.0"
