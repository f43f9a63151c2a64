"""The platform's ASGI application with every URLconf imported at import time, as ``bench/wsgi.py`` does for
WSGI: a worker's first request would otherwise pay about a second of CPU for it."""

from django.urls import get_resolver

from mcp_platform.asgi import application

get_resolver().url_patterns  # noqa: B018  (the import is the point)

__all__ = ["application"]
