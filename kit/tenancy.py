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
