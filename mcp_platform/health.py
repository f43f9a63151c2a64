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
    """handler500. A lost database (a PostgreSQL restart or failover) is an outage, not a bug: the caller
    gets 503 with Retry-After and an RFC 6749 error code, and the platform recovers by itself once the
    database is back (CONN_HEALTH_CHECKS reconnects on the next request). Everything else is the 500 page."""
    import sys

    from django.db import InterfaceError, OperationalError
    from django.views.defaults import server_error as django_server_error

    exc = sys.exc_info()[1]
    if not isinstance(exc, OperationalError | InterfaceError):
        return django_server_error(request)
    response = JsonResponse({"error": "temporarily_unavailable",
                             "error_description": "the database is unavailable; retry in a few seconds"},
                            status=503)
    response["Retry-After"] = "5"
    response["Cache-Control"] = "no-store"
    return response
