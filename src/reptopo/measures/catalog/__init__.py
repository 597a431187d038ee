"""The measures of a layer, one file each (see :mod:`reptopo.measures.measure`).

Every module here that does not start with ``_`` is imported on the registry's first use, and
registers its measure. A module imports its estimator's libraries inside ``run`` only: the
record reads the result models defined here.
"""
