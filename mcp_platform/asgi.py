"""The platform as an ASGI app: Django for everything, except the MCP gateway paths
(``/t/<slug>/mcp/<name>``), which stream to upstream MCP servers through mcp_guard without tying up a
worker thread per open SSE stream."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")
django_application = get_asgi_application()

from mcp_registry.gateway import GATEWAY_PATH, PlatformGateway  # noqa: E402 (needs the app registry ready)

gateway = PlatformGateway()


async def application(scope, receive, send):
    if scope["type"] == "lifespan":  # Django does not speak the lifespan protocol
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "http" and GATEWAY_PATH.match(scope.get("path", "")):
        return await gateway(scope, receive, send)
    return await django_application(scope, receive, send)
