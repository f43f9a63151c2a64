"""The web server command: one ASGI server for pages, protocol endpoints and the platform's MCP gateway
(``/t/<slug>/mcp/<name>``), the same in every mode (``manage.py serve``, which run.sh, deploy/Procfile and
deploy/Containerfile all run).

Measured before chosen (``python -m bench servers``; bench/README.md, "Web server"): at the same worker count,
requests Django answers (JWKS, client_credentials) ran within noise of uvicorn (httptools, uvloop) and of
gunicorn with uvicorn workers, while a bare ASGI callable ran 4x faster under granian than under either:
the headroom the protocol hot paths of issue 18 need. Django itself runs on threads behind it
(mcp_platform/asgi.py says why). gunicorn's sync workers (the old WSGI default) cannot serve the gateway.
The other candidates stay here so the benchmark runs them from the same definitions.

Forwarded headers are not the server's business: ``TRUSTED_PROXY_COUNT`` and ``TRUST_X_FORWARDED_PROTO``
(mcp_platform/proxy.py, Django's settings) decide them, so the servers are told to leave them alone.
"""

from __future__ import annotations

import sys

ASGI_APP = "mcp_platform.asgi:application"
DEFAULT = "granian"


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:8000`` for IPv6) -> (host, port)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--bind wants host:port, got {bind!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def web_command(bind: str, workers: int, *, server: str = DEFAULT, app: str = ASGI_APP, access_log: bool = True,
                graceful_seconds: int = 20, python: str = sys.executable) -> list[str]:
    """The argv that serves ``app`` on ``bind`` with ``workers`` processes."""
    host, port = split_bind(bind)
    if server == "granian":
        argv = [python, "-m", "granian", "--interface", "asgi", "--host", host, "--port", str(port),
                "--workers", str(workers), "--loop", "uvloop", "--no-ws", "--backlog", "2048",
                "--workers-kill-timeout", str(graceful_seconds), "--respawn-failed-workers"]
        return argv + (["--access-log"] if access_log else ["--no-access-log"]) + [app]
    if server == "uvicorn":
        argv = [python, "-m", "uvicorn", app, "--host", host, "--port", str(port), "--workers", str(workers),
                "--http", "httptools", "--loop", "uvloop", "--no-proxy-headers", "--lifespan", "on",
                "--backlog", "2048", "--timeout-graceful-shutdown", str(graceful_seconds)]
        return argv + ([] if access_log else ["--no-access-log"])
    if server in ("gunicorn-uvicorn", "gunicorn-wsgi"):
        argv = [python, "-m", "gunicorn", app, "--bind", f"{host}:{port}", "--workers", str(workers),
                "--graceful-timeout", str(graceful_seconds), "--backlog", "2048", "--preload"]
        if server == "gunicorn-uvicorn":
            argv += ["--worker-class", "uvicorn_worker.UvicornWorker"]
        return argv + (["--access-logfile", "-"] if access_log else [])
    raise ValueError(f"unknown web server {server!r}")
