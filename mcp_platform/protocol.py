"""The lean protocol path's dispatch in front of Django: POSTs to ``/t/<slug>/token``, ``/introspect`` and
``/revoke`` are offered to oauth/lean (which says what it answers and why it is safe), on a small thread
pool of its own (each thread keeps its database connection); whatever it does not answer goes on to
Django with the body it read replayed, so Django sees the request exactly as sent.

The answer gets what Django's middleware stack would add (mcp_platform/documents.py
``middleware_headers``: request id, security headers), and the request counter and access log line.
``LEAN_PROTOCOL_PATH=false`` turns the dispatch off (everything goes to Django).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from audit.context import RequestContext, bind_request_context, reset_request_context
from audit.middleware import request_id_of
from oauth.lean.endpoints import LeanRequest, answer

from .documents import _headers, _is_secure, _valid_host, middleware_headers, record_answer, remote_address

log = logging.getLogger(__name__)

PATH = re.compile(r"^/t/(?P<slug>[-a-z0-9]{1,63})/(?P<endpoint>token|introspect|revoke)$")
MAX_BODY = 16 * 1024  # a lean request is a few hundred bytes; a bigger body goes to Django unread
# Headers whose presence means Django's answer could depend on more than this path reads.
DJANGO_ONLY = ("cookie", "dpop", "origin")

_threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lean")


def enabled() -> bool:
    """On with PostgreSQL and Redis (the production stack); the embedded mode keeps every request on Django."""
    return settings.LEAN_PROTOCOL_PATH and bool(settings.REDIS_URL) \
        and settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _replaying(chunks: list[bytes], more: bool, receive):
    """A ``receive`` that hands Django the body already read, then the rest of the stream."""
    pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": more}]

    async def replay():
        return pending.pop() if pending else await receive()
    return replay


def _answer_in_thread(request: LeanRequest, context: RequestContext):
    close_old_connections()  # what Django does at each request: a broken or expired connection is replaced
    token = bind_request_context(context)  # audit events (a revocation) name the request and address
    try:
        return answer(request)
    finally:
        reset_request_context(token)


async def serve(scope, receive, send):
    """None when answered; else the ``receive`` to hand to Django (the original, or one replaying the body
    read here)."""
    match = PATH.match(scope.get("path", ""))
    if match is None or scope.get("method") != "POST" or scope.get("query_string") or scope.get("root_path") \
            or not enabled():
        return receive
    headers = _headers(scope)
    host = _valid_host(headers)
    secure = _is_secure(scope, headers)
    if host is None or (settings.SECURE_SSL_REDIRECT and not secure) or any(h in headers for h in DJANGO_ONLY) \
            or "," in headers.get("authorization", ""):  # two Authorization headers
        return receive
    chunks, size, more = [], 0, True
    while more and size <= MAX_BODY:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: Django's handler sees the same
            return _disconnected(message)
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        more = message.get("more_body", False)
    if more:
        return _replaying(chunks, True, receive)
    started = time.perf_counter()
    request_id = request_id_of(headers.get("x-request-id", ""))
    context = RequestContext(request_id=request_id, ip=remote_address(scope, headers) or None,
                             user_agent=headers.get("user-agent", "")[:512])
    request = LeanRequest(match["endpoint"], match["slug"], headers.get("authorization", ""),
                          headers.get("content-type", ""), b"".join(chunks))
    try:
        answered = await asyncio.get_running_loop().run_in_executor(_threads, _answer_in_thread, request, context)
    except Exception:  # Django answers, and reports it as it does
        log.exception("lean protocol path failed for %s; Django answers", scope.get("path"))
        answered = None
    if answered is None:
        return _replaying(chunks, False, receive)
    status, response_headers, body = answered
    response_headers = response_headers + middleware_headers(secure, request_id, len(body))
    await send({"type": "http.response.start", "status": status,
                "headers": [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response_headers]})
    await send({"type": "http.response.body", "body": body})
    record_answer(scope, headers, status, request_id, started)
    return None


def _disconnected(message):
    async def receive():
        return message
    return receive
