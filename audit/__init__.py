"""Append-only, hash-chained audit log. ``audit.record(...)`` is the single entry point.

This module is audit's public face: ``record``, ``failure``, the ``Actor`` type and ``describe_actor`` (how
an event names whoever acted). Apps beside audit (jobs) use only these names; apps above it may also use
its services and selectors.
"""

from .actors import SYSTEM, Actor, describe_actor

__all__ = ("SYSTEM", "Actor", "describe_actor", "failure", "record")


def record(*args, **kwargs):
    # Imported lazily so that `import audit` works before the app registry is ready.
    from .services import record as _record

    return _record(*args, **kwargs)


def failure(*args, **kwargs):
    """A refused request, audited aggregated per source and minute (audit/failures.py)."""
    from .failures import failure as _failure

    return _failure(*args, **kwargs)
