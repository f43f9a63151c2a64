"""Enqueueing a Celery task by its registered name.

Services enqueue tasks and tasks call services; naming the task instead of importing its module keeps that
one way (no import cycle, not even in a function body). Beat does the same (mcp_platform/celery.py).
"""

from __future__ import annotations

from celery import current_app


def enqueue(name: str, *args, **kwargs):
    """Like ``task.delay(*args, **kwargs)`` for the task registered as ``name``; raises what the broker
    raises when it cannot be reached."""
    app = current_app
    if app.conf.task_always_eager:  # run in this process, as .delay() does in that mode
        app.loader.import_default_modules()  # autodiscovery, so the task is registered
        return app.tasks[name].delay(*args, **kwargs)
    return app.send_task(name, args=args, kwargs=kwargs)
