"""Runs the platform in the foreground: the web server and the job runner (a Celery worker with
embedded beat), supervised together. Ctrl-C stops both; if either dies, the other is stopped too."""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the platform (gunicorn) and run background jobs (Celery worker + beat) in one command."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", "2")))
        parser.add_argument("--no-jobs", action="store_true", help="web only (jobs run elsewhere)")

    def handle(self, *args, bind, web_workers, no_jobs, **options):
        python = sys.executable
        commands = {
            "web": [python, "-m", "gunicorn", "mcp_platform.wsgi:application", "--bind", bind,
                    "--workers", str(web_workers), "--access-logfile", "-", "--graceful-timeout", "5"],
        }
        if not no_jobs:
            commands["jobs"] = [python, "-m", "celery", "-A", "mcp_platform", "worker", "--beat",
                                "--queues", settings.CELERY_TASK_DEFAULT_QUEUE, "--concurrency", "1",
                                "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME, "--loglevel", "INFO"]
        children = {name: subprocess.Popen(cmd) for name, cmd in commands.items()}
        self.stdout.write(self.style.SUCCESS(
            f"serving on http://{bind} (jobs: {'off' if no_jobs else settings.CELERY_BROKER_URL.split(':')[0]})"))
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
                    self.stderr.write(f"{name} exited with {child.returncode}; stopping")
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
