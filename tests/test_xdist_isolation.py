"""tests/xdist_isolation.py: what each pytest-xdist worker gets of its own (the shared run is untouched)."""

import os

import pytest

from tests.xdist_isolation import isolate, worker_redis_url


def test_each_worker_gets_its_own_redis_database_queue_and_var_dir(tmp_path):
    (tmp_path / "static").mkdir()
    environ = {"REDIS_URL": "redis://127.0.0.1:6379/3", "CELERY_QUEUE": "test-41", "VAR_DIR": str(tmp_path),
               "PYTEST_XDIST_WORKER_COUNT": "2"}
    isolate("gw1", environ)
    assert environ == {"REDIS_URL": "redis://127.0.0.1:6379/11", "CELERY_QUEUE": "test-41-gw1",
                       "VAR_DIR": str(tmp_path / "gw1"), "PYTEST_XDIST_WORKER_COUNT": "2"}
    assert (tmp_path / "gw1" / "static").resolve() == (tmp_path / "static").resolve()


def test_the_workers_of_a_run_spread_over_redis_sixteen_databases():
    assert worker_redis_url("redis://127.0.0.1:6379/15", 1, 2) == "redis://127.0.0.1:6379/7"  # Redis has 16
    assert [worker_redis_url("redis://:pw@redis:6380", i, 4) for i in range(4)] == [
        "redis://:pw@redis:6380/0", "redis://:pw@redis:6380/4", "redis://:pw@redis:6380/8", "redis://:pw@redis:6380/12"]
    assert len({worker_redis_url("redis://127.0.0.1/5", i, 16) for i in range(16)}) == 16


@pytest.mark.django_db
def test_this_run_uses_what_its_worker_was_given(settings):
    from django.db import connection

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:  # a plain run keeps what it was given (./test.sh, two workers, checks them)
        assert not settings.VAR_DIR.name.startswith("gw") and "-gw" not in settings.CELERY_TASK_DEFAULT_QUEUE
        return
    assert settings.REDIS_URL == os.environ["REDIS_URL"] and settings.CELERY_TASK_DEFAULT_QUEUE.endswith(f"-{worker}")
    assert settings.VAR_DIR.name == worker and connection.settings_dict["NAME"].endswith(f"_{worker}")
    if settings.REDIS_URL:
        assert settings.CACHES["default"]["LOCATION"] == settings.REDIS_URL == settings.CELERY_BROKER_URL
