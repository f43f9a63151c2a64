"""What ``manage.py serve`` gives the processes it starts, whatever web server it runs.

- Prometheus counters of every process in one place: prometheus_client's multiprocess mode, with
  ``PROMETHEUS_MULTIPROC_DIR`` under VAR_DIR, emptied at each start (the files of a previous run would
  add to this one's counters; a counter never goes backwards while the server runs, whichever worker a
  scrape reaches).
- One log format: each child's output is relayed line by line, as JSON (mcp_platform.logging.json_line),
  so boot banners of the server or Celery do not break a log pipeline that reads JSON lines.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

from django.conf import settings

from .logging import json_line


def child_environment() -> dict:
    """The environment of the web and job processes, with an empty shared metrics directory."""
    env = dict(os.environ)
    directory = Path(env.get("PROMETHEUS_MULTIPROC_DIR") or settings.VAR_DIR / "metrics")
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    return env


def start(name: str, command: list[str], env: dict) -> subprocess.Popen:
    """``command`` started with its output relayed to ours as JSON lines."""
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             errors="replace", bufsize=1)
    threading.Thread(target=_relay, args=(name, child.stdout), daemon=True, name=f"relay-{name}").start()
    return child


def _relay(name: str, stream) -> None:
    for line in stream:
        sys.stdout.write(json_line(name, line) + "\n")
        sys.stdout.flush()
