"""The tenant of the current request or job, in a ContextVar.

The tenant middleware binds it; DOT's validator and the tenant-owned managers (kit/tenant_owned.py) read
it, because neither sees the Django request (django-allauth's core/context.py pattern). No Django here:
anything may import it before the app registry is ready.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar

_current_tenant: ContextVar = ContextVar("current_tenant", default=None)


def get_current_tenant():
    return _current_tenant.get()


def bind_tenant(tenant):
    return _current_tenant.set(tenant)


def unbind_tenant(token) -> None:
    _current_tenant.reset(token)


@contextmanager
def tenant_context(tenant):
    token = bind_tenant(tenant)
    try:
        yield tenant
    finally:
        unbind_tenant(token)


# Request code (the tenant middleware enters it for every request) must not run a tenant-owned query
# with no tenant bound: it would see every tenant's rows (kit/tenant_owned.py raises instead). Jobs,
# commands and shells are not request code: they bind a tenant or say ``unscoped()``.
_request_code: ContextVar[bool] = ContextVar("tenant_request_code", default=False)
_platform_wide: ContextVar[bool] = ContextVar("tenant_platform_wide", default=False)


@contextmanager
def request_code():
    token = _request_code.set(True)
    try:
        yield
    finally:
        _request_code.reset(token)


@contextmanager
def platform_wide():
    """Request code that is platform-wide by design (the operators' Django admin, model validation):
    unbound tenant-owned queries are allowed in it, as outside requests."""
    token = _platform_wide.set(True)
    try:
        yield
    finally:
        _platform_wide.reset(token)


def unbound_queries_refused() -> bool:
    return _request_code.get() and not _platform_wide.get()
