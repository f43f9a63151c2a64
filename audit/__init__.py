"""Append-only, hash-chained audit log. ``audit.record(...)`` is the single entry point.

This module is audit's public face: ``record``, ``failure`` and the ``Actor`` type. Apps beside audit
(jobs) use only these names; apps above it may also use its services and selectors.
"""

from .actors import SYSTEM, Actor

__all__ = ("SYSTEM", "Actor", "failure", "record")


def record(*args, **kwargs):
    # Imported lazily so that `import audit` works before the app registry is ready.
    from .services import record as _record

    return _record(*args, **kwargs)


def failure(*args, **kwargs):
    """A refused request, audited aggregated per source and minute (audit/failures.py)."""
    from .failures import failure as _failure

    return _failure(*args, **kwargs)
