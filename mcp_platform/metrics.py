"""Prometheus metrics at ``/metrics``: HTTP requests by method and status, access tokens issued by
tenant, client and grant type, the last duration of each kind of job, job runs by state, and the depth of
the Celery queue.

Counters live in each process and are summed over all of them at a scrape: ``manage.py serve`` sets
``PROMETHEUS_MULTIPROC_DIR`` to an emptied directory under VAR_DIR (prometheus_client's multiprocess mode,
mcp_platform/processes.py), so a counter never goes backwards whichever worker answers. Job and
queue figures are read from the database and Redis at scrape time, so they are right whichever replica
answers. The endpoint exposes tenant and client ids: it answers only a bearer ``METRICS_TOKEN`` and is
absent (404) when none is configured.
"""

from __future__ import annotations

import hmac
import logging
import os
import time

from django.conf import settings
from django.db.models import Count
from django.db.models.signals import post_save
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

REQUESTS = Counter("mcp_http_requests_total", "HTTP requests answered", ["method", "status"])
TOKENS = Counter("mcp_tokens_issued_total", "Access tokens issued", ["tenant", "client", "grant_type"])
RECENT_JOBS = 500  # finished runs read per scrape to find each job's latest duration


def _token_issued(sender, instance, created, **kwargs):
    if created:
        TOKENS.labels(str(instance.tenant_id), str(instance.application_id or ""), instance.grant_type or "").inc()


def connect() -> None:
    from oauth.models import AccessToken

    post_save.connect(_token_issued, sender=AccessToken, dispatch_uid="metrics-token-issued")


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        connect()

    def __call__(self, request):
        response = self.get_response(request)
        REQUESTS.labels(request.method if request.method in _METHODS else "other", str(response.status_code)).inc()
        return response


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}


class _StateCollector:
    """Figures that belong to the whole deployment, read when scraped."""

    def collect(self):
        from jobs.models import JobRun

        runs = GaugeMetricFamily("mcp_job_runs", "Job runs by job and state", labels=["job", "status"])
        for row in JobRun.objects.values("name", "status").annotate(n=Count("id")):
            runs.add_metric([row["name"], row["status"]], row["n"])
        yield runs
        durations = GaugeMetricFamily("mcp_job_last_duration_seconds", "Duration of each job's latest finished run",
                                      labels=["job"])
        seen = set()
        for name, started, finished in JobRun.objects.filter(finished_at__isnull=False, started_at__isnull=False) \
                .order_by("-finished_at").values_list("name", "started_at", "finished_at")[:RECENT_JOBS]:
            if name not in seen:
                seen.add(name)
                durations.add_metric([name], (finished - started).total_seconds())
        yield durations
        depth = GaugeMetricFamily("mcp_queue_depth", "Tasks waiting in the Celery queue", labels=["queue"])
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        if settings.REDIS_URL:
            try:
                import redis

                broker = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=1)
                depth.add_metric([queue], broker.llen(queue))
            except Exception as exc:  # the scrape still answers; the gap in the series shows the outage
                log.warning("queue depth unavailable: %s", exc)
        yield depth


def _process_metrics() -> bytes:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def metrics_view(request):
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("metrics are off: set METRICS_TOKEN")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not (header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), expected.encode())):
        response = HttpResponse("send Authorization: Bearer <METRICS_TOKEN>\n", status=401,
                                content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    started = time.monotonic()
    state = CollectorRegistry()
    state.register(_StateCollector())
    body = _process_metrics() + generate_latest(state)
    body += f"# scrape took {time.monotonic() - started:.3f}s\n".encode()
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
