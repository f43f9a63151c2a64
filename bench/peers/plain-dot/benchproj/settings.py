# ruff: noqa  (peer fixture copied from ../shared/bench/peers, kept as it is there)
"""Minimal Django 5.2 + django-oauth-toolkit project for client_credentials benchmarking.
env: PB_DB=pg|sqlite (default pg), PB_DEBUG=0|1, PB_CONN_MAX_AGE (default 60; 0 = Django default)"""
import os
from pathlib import Path
BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "peerbench-not-secret-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = os.environ.get("PB_DEBUG", "0") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
# startproject default stack minus sessions/messages (no admin/UI here)
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "benchproj.urls"
WSGI_APPLICATION = "benchproj.wsgi.application"
CONN_MAX_AGE = int(os.environ.get("PB_CONN_MAX_AGE", "60"))
if os.environ.get("PB_DB", "pg") == "pg":
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.postgresql", "NAME": "peerbench",
        "USER": "peerbench", "PASSWORD": "peerbench", "HOST": "127.0.0.1", "PORT": "5432",
        "CONN_MAX_AGE": CONN_MAX_AGE, "CONN_HEALTH_CHECKS": False,
    }}
else:
    DATABASES = {"default": {
        "ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "peerbench.sqlite3",
        "CONN_MAX_AGE": CONN_MAX_AGE,
        # WAL + IMMEDIATE tx + busy timeout: avoids 'database is locked' with several workers
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }}
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "root": {"handlers": [], "level": "WARNING"}}
OAUTH2_PROVIDER = {
    "SCOPES": {"mcp:tools": "MCP tools", "mcp:resources": "MCP resources"},
    "DEFAULT_SCOPES": ["mcp:tools"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
    # like the platform: a rotated-away refresh token presented again revokes the family
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
}
