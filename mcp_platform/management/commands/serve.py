"""Runs the platform in the foreground: the web server (granian serving the ASGI app, mcp_platform/server.py)
and the job runner (a Celery worker with embedded beat), supervised together, and with ``--demo-mcp`` the
tour's Notes MCP server. Ctrl-C stops all; if one dies, the others are stopped too. With ``--no-jobs`` and
no demo server (deploy/Procfile's ``web``) it becomes the web server itself (exec), so signals reach it
directly."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mcp_platform import processes, server
from mcp_platform.logging import json_line


class Command(BaseCommand):
    help = ("Serve the platform (granian, pages and MCP gateway) and run background jobs (Celery worker + beat) "
            "in one command.")

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--no-jobs", action="store_true", help="web only (jobs run elsewhere)")
        parser.add_argument("--demo-mcp", action="store_true",
                            help="also run the demo Notes MCP server seeded by seed_demo (on DEMO_MCP_PORT)")

    def handle(self, *args, bind, web_workers, no_jobs, demo_mcp, **options):
        python = sys.executable
        try:
            # The app writes the access log itself (mcp_platform.logging: JSON with the request id).
            web = server.web_command(bind, web_workers, python=python, access_log=False)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        commands = {"web": web}
        if not no_jobs:
            commands["jobs"] = [python, "-m", "celery", "-A", "mcp_platform", "worker", "--beat",
                                "--queues", settings.CELERY_TASK_DEFAULT_QUEUE, "--concurrency", "1",
                                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME, "--loglevel", "INFO"]
        if demo_mcp:
            commands["demo-mcp"] = self._demo_command(python)
            # The platform verifies, imports from and proxies to the demo server on loopback: its processes
            # may reach that one address (the egress guard refuses loopback otherwise).
            allowed = [n for n in os.environ.get("EGRESS_ALLOWED_NETWORKS", "").split(",") if n.strip()]
            os.environ["EGRESS_ALLOWED_NETWORKS"] = ",".join([*allowed, "127.0.0.1/32"])
        env = processes.child_environment()  # shared metrics directory
        if list(commands) == ["web"]:
            os.execve(python, web, env)  # nothing to supervise
        children = {name: processes.start(name, cmd, env) for name, cmd in commands.items()}  # JSON output
        jobs = "off" if no_jobs else settings.CELERY_BROKER_URL.split(":")[0]
        demo = f"; demo MCP server on {settings.DEMO_MCP_URL}" if demo_mcp else ""
        self.stdout.write(json_line("serve", f"serving on http://{bind} (jobs: {jobs}){demo}"))
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(json_line("serve", f"{name} exited with {child.returncode}; stopping"))
                    exit_code, stopping = child.returncode or 1, True
            time.sleep(0.5)
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.time() + 10
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                child.kill()
        sys.exit(exit_code)

    def _demo_command(self, python: str) -> list[str]:
        """The Notes server, configured from the resource seed_demo registered (its PRM mirror URL)."""
        from mcp_registry import prm, selectors

        if not settings.DEMO_MCP_URL:
            raise CommandError("the demo MCP server is for the embedded mode; production has none")
        resource = selectors.resource_at(settings.DEMO_MCP_URL)
        if resource is None:
            raise CommandError(f"no resource {settings.DEMO_MCP_URL} is registered: run `manage.py seed_demo` "
                               "first (with the same DEMO_MCP_PORT)")
        return [python, "-m", "mcp_platform.demo.notes", "--port", str(settings.DEMO_MCP_PORT),
                "--prm-url", prm.mirror_url(resource)]
