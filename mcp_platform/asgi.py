"""The platform as one ASGI app (what ``manage.py serve`` runs under granian, mcp_platform/server.py):

- the MCP gateway paths (``/t/<slug>/mcp/<name>``) are served natively on the event loop, so an open SSE
  stream to an upstream MCP server ties up no thread;
- the public documents (JWKS, authorization server metadata, PRM) are answered from bytes rendered once
  per tenant generation, before Django and its middleware stack (mcp_platform/documents.py);
- client_credentials, introspection and revocation successes are answered by the lean protocol path
  (mcp_platform/protocol.py, oauth/lean), anything else it hands on to Django with its body;
- everything else is Django's WSGI handler on a small pool of long-lived threads per process (a2wsgi).
  Measured against Django's own ASGI handler (bench/README.md, "Web server"), that costs about a quarter
  less CPU per request, and it keeps one persistent database connection per thread (``CONN_MAX_AGE``):
  Django's ASGI handler runs each request's synchronous part on a thread of its own, where a persistent
  connection would be left behind by every request.
"""

import os

from a2wsgi import WSGIMiddleware
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")
django_application = get_wsgi_application()

from mcp_registry.gateway import GATEWAY_PATH, PlatformGateway  # noqa: E402 (needs the app registry ready)

from . import documents, protocol  # noqa: E402

# Django requests run concurrently on this many threads per process (each with its database connection);
# more mostly adds GIL contention on CPU-bound protocol requests, fewer lets one slow request (an outbound
# fetch) hold up the next.
WEB_THREADS = 4

gateway = PlatformGateway()
django_threads = WSGIMiddleware(django_application, workers=WEB_THREADS)


async def application(scope, receive, send):
    if scope["type"] == "lifespan":  # nothing to start or stop: acknowledge
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http" and GATEWAY_PATH.match(scope.get("path", "")):
        return await gateway(scope, receive, send)
    if scope["type"] == "http" and await documents.serve(scope, send):
        return
    if scope["type"] == "http" and (receive := await protocol.serve(scope, receive, send)) is None:
        return  # the lean protocol path answered (machine tokens, introspection, revocation)

    async def receive_coroutine():  # a2wsgi hands receive() to run_coroutine_threadsafe: granian's is no coroutine
        return await receive()

    return await django_threads(scope, receive_coroutine, send)
