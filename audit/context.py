"""Who is acting, from where: captured once per request, read by audit.record and the log formatter.

A ContextVar rather than thread-locals so that it is correct under ASGI as well as WSGI.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    user_agent: str = ""
    actor: object | None = field(default=None, compare=False)  # set lazily: the user is known after auth


_request_context: ContextVar[RequestContext | None] = ContextVar("audit_request_context", default=None)


def get_request_context() -> RequestContext | None:
    return _request_context.get()


def bind_request_context(ctx: RequestContext | None):
    return _request_context.set(ctx)


def reset_request_context(token) -> None:
    _request_context.reset(token)


class RequestContextLogFilter(logging.Filter):
    """Adds the current request id to every log record. Django logs a 4xx/5xx answer (``django.request``)
    after the middleware returned, the context already unbound: its record carries the request itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _request_context.get()
        if ctx is not None:
            record.request_id = ctx.request_id
        else:
            record.request_id = getattr(getattr(record, "request", None), "request_id", "")
        return True
