"""Calling the platform's ASGI app in-process, for the tests that hold a path in front of Django (the fast
document path, the lean protocol path) to Django's own answers: one request, a pool's connections closed,
and the front with Django's threads recorded, so a test knows who answered."""

from __future__ import annotations

import asyncio
import threading


async def call_asgi(app, method: str, path: str, headers: dict, body: bytes | None = None, *, chunks: int = 1,
                    scheme: str = "http"):
    """(status, headers sorted without Date, body) of one request; a ``body`` (even an empty one) comes with
    its Content-Length and arrives in ``chunks`` parts; without one, the request has neither."""
    if body is not None:
        headers = {**headers, "content-length": str(len(body))}
    body = body or b""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": scheme, "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000)}
    size = max(1, -(-len(body) // chunks))
    parts = [body[i:i + size] for i in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
                for i, part in enumerate(parts)]
    sent = []

    async def receive():
        if not messages:
            await asyncio.Event().wait()  # no disconnect: the client waits for the answer
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    response_headers = sorted((k.decode().lower(), v.decode()) for k, v in start["headers"] if k.lower() != b"date")
    return start["status"], response_headers, content


def close_connections(executor, workers: int):
    """Closes the database connection of each of the pool's threads (the test database is dropped after)."""
    from django.db import connections

    barrier = threading.Barrier(workers, timeout=10)

    def close():
        connections.close_all()
        barrier.wait()  # each thread takes one task: every one of them closes its own
    for future in [executor.submit(close) for _ in range(workers)]:
        future.result()


def recorded_front(monkeypatch, front_module):
    """Gives ``front_module`` (whose ``_threads`` pool runs its database work) a one-thread pool and records
    every request that reaches Django's threads. Returns (the platform's app, Django alone, the list of
    who answered, cleanup)."""
    from concurrent.futures import ThreadPoolExecutor

    from mcp_platform import asgi as platform_asgi

    threads = ThreadPoolExecutor(max_workers=1)  # its database connection is closed by cleanup()
    monkeypatch.setattr(front_module, "_threads", threads)
    answered = []
    django = platform_asgi.django_threads

    async def recording_django(scope, receive, send):
        answered.append("django")
        return await django(scope, receive, send)

    monkeypatch.setattr(platform_asgi, "django_threads", recording_django)

    def cleanup():
        close_connections(threads, 1)
        threads.shutdown()
        close_connections(django.executor, platform_asgi.WEB_THREADS)

    return platform_asgi.application, django, answered, cleanup
