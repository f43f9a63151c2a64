"""Append-only, hash-chained audit log. ``audit.record(...)`` is the single entry point."""


def record(*args, **kwargs):
    # Imported lazily so that `import audit` works before the app registry is ready.
    from .services import record as _record

    return _record(*args, **kwargs)


def failure(*args, **kwargs):
    """A refused request, audited aggregated per source and minute (audit/failures.py)."""
    from .failures import failure as _failure

    return _failure(*args, **kwargs)
