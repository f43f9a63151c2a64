"""The platform's WSGI application, with every URLconf imported before gunicorn forks (``--preload``).

Django imports the URLconf (and with it every app's views) on a worker's first request: about a second of
CPU per worker, which a short benchmark run would otherwise book to the platform's first requests.
"""

from django.urls import get_resolver

from mcp_platform.wsgi import application

get_resolver().url_patterns  # noqa: B018  (the import is the point)

__all__ = ["application"]
