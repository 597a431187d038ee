"""Profile any torch model on your own data: per-layer topology in a notebook, three lines.

- :mod:`.layers`: which layers are profiled (the default choice, or the names given);
- :mod:`.inputs`: the inputs streamed in batches, the kept ones chosen, their activations kept;
- :mod:`.result`: :class:`Profile`, the result (table, figures, record, comparison);
- :mod:`.profiler`: :func:`profile`, the entry point.
"""

from .layers import default_layers
from .profiler import profile
from .result import Profile, ProfileComparison

__all__ = ["Profile", "ProfileComparison", "default_layers", "profile"]
