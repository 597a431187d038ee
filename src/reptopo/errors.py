"""The package's own errors, all of them here: one base class, so the command line can tell a
user's mistake (one line, what to do, exit 2) from a bug (exit 1, "internal error", the
traceback with ``--debug``)."""

from __future__ import annotations


class ReptopoError(Exception):
    """Something a user can fix: the message names the file, field, layer or name, and what to do."""


class StoreError(ReptopoError):
    """A result store that is absent, empty or holds a record that does not load."""


class RecordError(StoreError):
    """A record that does not validate against the record model; names the file and field."""


class ProfileError(ReptopoError, ValueError):
    """An argument of :func:`reptopo.profile` that cannot be profiled; names it (or the layer and batch)."""


class UnknownName(ReptopoError, KeyError):
    """A name that is not in a registry or a table of versions; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError's own would quote the message
        return str(self.args[0]) if self.args else ""


class RegistryError(ReptopoError, ValueError):
    """One or more problems with registry entries; ``problems`` lists 'file:line: field: message'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class TaskUnavailable(ReptopoError, RuntimeError):
    """A task's data cannot be had here (no hub, a package missing); says what to use instead."""


class ModelBuildError(ReptopoError, RuntimeError):
    """A model entry that cannot be built; the message names the entry and the field."""


class LayerError(ReptopoError, RuntimeError):
    """A declared layer whose output cannot be measured; names the layer."""


class CloudError(ReptopoError, ValueError):
    """A point cloud that no measure can describe honestly. Names the layer and the problem."""

    def __init__(self, problem: str, *, layer: str | None = None):
        self.problem = problem
        self.layer = layer
        where = f"layer {layer!r}: " if layer else ""
        super().__init__(where + problem)


class CalibrationMismatch(ValueError):
    """No PHdim calibration table was built for these settings (pool size, schedule, repeats, alpha)."""


class SlurmOptionsError(ReptopoError, ValueError):
    """A ``--slurm`` value that is not a mapping of known keys; names the key or file."""


class CheckpointError(ReptopoError, ValueError):
    """A stored checkpoint that is missing, unreadable, or not the one its record quotes; names the file."""


class ComparisonError(ReptopoError, ValueError):
    """Two stored models that cannot be compared (other probe sets or inputs); names both and what to do."""


class SubmissionError(ReptopoError, RuntimeError):
    """A refused submission or bundle; the message names the file and field."""


class MeasureShapeError(RuntimeError):
    """A measure's result that does not fit the record's model: a bug, not a user's mistake."""
