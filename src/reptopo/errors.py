"""The package's own errors: one base class, so the command line can tell a user's mistake
(one line, what to do, a non-zero exit) from a bug (a traceback with ``--debug``)."""

from __future__ import annotations


class ReptopoError(Exception):
    """Something a user can fix: the message names the file, field, layer or name, and what to do."""


class StoreError(ReptopoError):
    """A result store that is absent, empty or holds a record that does not load."""


class RecordError(StoreError):
    """A record that does not validate against the record model; names the file and field."""


class ProfileError(ReptopoError, ValueError):
    """An argument of :func:`reptopo.profile` that cannot be profiled; names it (or the layer and batch)."""
