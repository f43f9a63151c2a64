"""tests/xdist_isolation.py: what each pytest-xdist worker gets of its own (the shared run is untouched)."""

import os

import pytest

from tests.xdist_isolation import isolate, worker_redis_url


def test_each_worker_gets_its_own_redis_database_queue_and_var_dir(tmp_path):
    (tmp_path / "static").mkdir()
    environ = {"REDIS_URL": "redis://127.0.0.1:6379/8", "CELERY_QUEUE": "test-41", "VAR_DIR": str(tmp_path)}
    isolate("gw1", environ)
    assert environ == {"REDIS_URL": "redis://127.0.0.1:6379/9", "CELERY_QUEUE": "test-41-gw1",
                       "VAR_DIR": str(tmp_path / "gw1")}
    assert (tmp_path / "gw1" / "static").resolve() == (tmp_path / "static").resolve()
    assert worker_redis_url("redis://127.0.0.1:6379/15", 1) == "redis://127.0.0.1:6379/0"  # Redis has 16
    assert worker_redis_url("redis://:pw@redis:6380", 2) == "redis://:pw@redis:6380/2"


@pytest.mark.django_db
def test_this_run_uses_what_its_worker_was_given(settings):
    from django.db import connection

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # a plain run keeps what it was given (./test.sh -n 2 checks the workers)
        assert not settings.VAR_DIR.name.startswith("gw") and "-gw" not in settings.CELERY_TASK_DEFAULT_QUEUE
        return
    assert settings.REDIS_URL == os.environ["REDIS_URL"] and settings.CELERY_TASK_DEFAULT_QUEUE.endswith(f"-{worker}")
    assert settings.VAR_DIR.name == worker and connection.settings_dict["NAME"].endswith(f"_{worker}")
    if settings.REDIS_URL:
        assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL == settings.CELERY_BROKER_URL
