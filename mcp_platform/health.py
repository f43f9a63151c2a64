"""/healthz: the process answers. /readyz: its dependencies answer (load balancers route on this)."""

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return "ok"


def _check_redis() -> str:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


@never_cache
def readyz(request):
    checks = {"database": _check_database}
    if settings.REDIS_URL:
        checks["redis"] = _check_redis
    results, ready = {}, True
    for name, check in checks.items():
        try:
            results[name] = check()
        except Exception as exc:  # a readiness probe reports every failure, whatever its kind
            results[name] = f"error: {exc.__class__.__name__}"
            ready = False
    from jobs.selectors import last_heartbeat

    try:
        beat = last_heartbeat()
        results["scheduler_last_heartbeat"] = beat.finished_at.isoformat() if beat else None
    except Exception:
        results["scheduler_last_heartbeat"] = None
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results},
                        status=200 if ready else 503)


def server_error(request):
    """handler500. A lost database (a PostgreSQL restart or failover) or job queue is an outage, not a bug:
    the caller gets 503 with Retry-After, and the platform recovers by itself once the service is back
    (CONN_HEALTH_CHECKS reconnects on the next request). A person in a browser (the console, sign-in
    pages) gets a page that says so; protocol and API callers get an RFC 6749 error code. Everything else
    is the 500 page."""
    import sys

    from django.db import InterfaceError, OperationalError
    from django.http import HttpResponse
    from django.template.loader import render_to_string
    from django.utils import translation
    from django.utils.translation import gettext_lazy
    from django.views.defaults import server_error as django_server_error
    from kombu.exceptions import OperationalError as BrokerError

    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError | InterfaceError):
        what = gettext_lazy("the database is unavailable")
    elif isinstance(exc, BrokerError):
        what = gettext_lazy("the job queue is unavailable")
    else:
        return django_server_error(request)
    if _wants_page(request):
        # Rendered without the request: no context processor (they would ask the database that just failed).
        response = HttpResponse(render_to_string("errors/unavailable.html", {"what": what, "back": _back_to(request)}),
                                status=503)
    else:
        with translation.override("en"):  # error_description is English (ASCII, RFC 6749 §5.2)
            response = JsonResponse({"error": "temporarily_unavailable",
                                     "error_description": f"{what}; retry in a few seconds"}, status=503)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response


def _wants_page(request) -> bool:
    return "text/html" in request.META.get("HTTP_ACCEPT", "") and not request.path.startswith("/api/")


def _back_to(request) -> str:
    """The page the failed action came from when it is one of ours (a form's Referer), else the console."""
    from urllib.parse import urlsplit

    referer = urlsplit(request.META.get("HTTP_REFERER", ""))
    if referer.path.startswith("/") and referer.netloc == request.get_host():
        return referer.path
    return "/console/"
