"""One log format for every process: JSON lines with the request id where there is a request.

The web workers' access log is written here too (``AccessLogMiddleware``), not by the HTTP server, so it
has the same format and the request id whatever server runs the app; the Celery worker and beat log
through the same configuration (mcp_platform.celery), and the lines a child process prints outside of
logging (a server's boot banner) are wrapped into the same shape by ``manage.py serve``
(``json_line``). Scheduler chatter about tasks that run every few seconds is DEBUG
(``FrequentTaskFilter``), so it no longer buries everything else at INFO.
"""

import json
import logging
import time
from datetime import UTC, datetime

access_log = logging.getLogger("mcp_platform.access")
FREQUENT_SECONDS = 60  # a scheduled task at least this frequent is logged at DEBUG


class JSONFormatter(logging.Formatter):
    """One JSON object per line: what log pipelines (Loki, ELK, CloudWatch) ingest without parsing rules."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        http = getattr(record, "http", None)
        if http:
            entry["http"] = http
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def json_line(source: str, text: str) -> str:
    """A line a child process printed outside logging, as a log line (itself if it is one already)."""
    text = text.rstrip("\n")
    if text.startswith("{"):
        try:
            json.loads(text)
            return text
        except ValueError:
            pass
    return json.dumps({"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": "info",
                       "logger": source, "msg": text})


class AccessLogMiddleware:
    """One line per request, with its method, path, status and duration; the request id comes from the
    context audit.middleware.RequestContextMiddleware binds just outside. Before the middleware that may
    answer by itself (static files, redirects), so those are logged too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        if access_log.isEnabledFor(logging.INFO):
            status = response.status_code
            access_log.info("%s %s %s", request.method, request.path, status, extra={
                "http": {"method": request.method, "path": request.path, "status": status,
                         "duration_ms": round(1000 * (time.perf_counter() - started), 2),
                         "remote": request.META.get("REMOTE_ADDR", "")}})
        return response


class FrequentTaskFilter(logging.Filter):
    """Lowers to DEBUG the INFO lines of Celery's beat and worker about tasks scheduled every
    ``FREQUENT_SECONDS`` or more often (sent, received, succeeded): a line every 5 seconds otherwise."""

    _loggers = ("celery.beat", "celery.app.trace", "celery.worker.strategy")
    _frequent: tuple[str, ...] | None = None

    @classmethod
    def frequent_tasks(cls) -> tuple[str, ...]:
        if cls._frequent is None:
            from datetime import timedelta

            from django.conf import settings

            from .celery import beat_schedule

            cls._frequent = tuple(entry["task"] for entry in beat_schedule(settings).values()
                                  if isinstance(entry["schedule"], timedelta)
                                  and entry["schedule"].total_seconds() <= FREQUENT_SECONDS)
        return cls._frequent

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.name.startswith(self._loggers):
            return True
        message = record.getMessage()
        if not any(task in message for task in self.frequent_tasks()):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)
