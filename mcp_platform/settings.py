"""Settings for the MCP authorization platform.

One module, driven by environment variables (see the README's configuration table). With no variables
set it runs the embedded default: a SQLite file and in-process jobs under ``var/``.
"""

import ipaddress
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# An optional .env next to manage.py, for operators who prefer a file to exported variables.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=False)
# "embedded" is the laptop default; "production" refuses to start without real secrets.
PLATFORM_MODE = env.str("PLATFORM_MODE", default="embedded")
IS_PRODUCTION = PLATFORM_MODE == "production"


def _generated_secret(name: str, factory) -> str:
    """A secret generated once and kept under var/ (embedded mode only)."""
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(factory())
        path.chmod(0o600)
    return path.read_text().strip()


def _new_secret_key() -> str:
    import secrets

    return secrets.token_urlsafe(50)


def _new_kek() -> str:
    import base64
    import secrets

    return "v1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


if IS_PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY")
    PLATFORM_KEK = env.str("PLATFORM_KEK")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_secret("secret_key", _new_secret_key)
    PLATFORM_KEK = env.str("PLATFORM_KEK", default="") or _generated_secret("platform_kek", _new_kek)
PLATFORM_KEK_PREVIOUS = env.str("PLATFORM_KEK_PREVIOUS", default="")

# Every issuer and absolute URL is computed from this, never from the Host header.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")
# Production puts tokens, codes and session cookies on the wire: a plain-http PUBLIC_URL is refused, unless
# it is loopback (a production-mode run on one machine, as bench/ does) or the operator states that every
# client connection is encrypted before it reaches the platform (a service-mesh sidecar, a tunnel).
PUBLIC_URL_HTTP_BEHIND_TLS = env.bool("PUBLIC_URL_HTTP_BEHIND_TLS", default=False)


def _check_public_url_scheme(public_url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(public_url)
    if parts.scheme == "https" or PUBLIC_URL_HTTP_BEHIND_TLS:
        return
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and (host == "localhost" or host.startswith("127.") or host == "::1"):
        return
    raise ImproperlyConfigured(
        f"PLATFORM_MODE=production needs an https PUBLIC_URL (got {public_url!r}): clients would send tokens "
        "and passwords in clear. Put TLS in front and use its https address, or, when TLS already ends in "
        "front of an http PUBLIC_URL (a mesh sidecar, a tunnel), say so with PUBLIC_URL_HTTP_BEHIND_TLS=true.")


if IS_PRODUCTION:
    _check_public_url_scheme(PUBLIC_URL)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PUBLIC_URL])


def _dns_servers(values: list[str]) -> list[tuple[str, int]]:
    """``10.0.0.53``, ``127.0.0.1:5353``, ``[::1]:53`` -> (host, port); port 53 unless given."""
    servers = []
    for value in (v.strip() for v in values if v.strip()):
        if value.startswith("["):
            host, _, port = value[1:].partition("]")
            port = port.lstrip(":")
        elif value.count(":") == 1:
            host, port = value.split(":")
        else:
            host, port = value, ""
        try:
            servers.append((str(ipaddress.ip_address(host)), int(port or 53)))
        except ValueError as exc:
            raise ImproperlyConfigured(f"CUSTOM_DOMAIN_DNS_SERVERS: {value!r} is not an IP address[:port]") from exc
    return servers


# Custom domains (tenants/domains.py): the resolver that checks the TXT records (empty: the system's),
# how often verified domains are checked again, and after how many failures in a row one stops serving.
CUSTOM_DOMAIN_DNS_SERVERS = _dns_servers(env.list("CUSTOM_DOMAIN_DNS_SERVERS", default=[]))
CUSTOM_DOMAIN_RECHECK_SECONDS = env.int("CUSTOM_DOMAIN_RECHECK_SECONDS", default=3600)
CUSTOM_DOMAIN_MAX_FAILURES = env.int("CUSTOM_DOMAIN_MAX_FAILURES", default=3)

INSTALLED_APPS = [
    "mcp_platform.apps.PlatformAdminConfig",  # django.contrib.admin, operators only (mcp_platform/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth.dot_commands",  # before oauth2_provider: its tenant-blind commands are replaced by refusals
    "oauth2_provider",
    "audit",
    "jobs",
    "tenants",
    "mcp_registry",
    "oauth",
    "identity",
    "identity.mfa.apps.MfaConfig",
    "mcp_platform",
]

MIDDLEWARE = [
    "mcp_platform.proxy.ForwardedForMiddleware",
    "tenants.middleware.CustomDomainHostMiddleware",  # verified custom domains pass the ALLOWED_HOSTS check
    # Before anything that may answer (static files, redirects): every response and log line has its id.
    "audit.middleware.RequestContextMiddleware",
    "mcp_platform.logging.AccessLogMiddleware",  # the access log (JSON, request id), whatever the server
    "mcp_platform.metrics.MetricsMiddleware",
    "mcp_platform.middleware.SecurityHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tenants.middleware.TenantMiddleware",
    "tenants.locale.TenantLocaleMiddleware",  # after the tenant (its default language) and the session
    "identity.middleware.SessionTenantBindingMiddleware",
    "identity.people.middleware.SessionActivityMiddleware",  # a session's last use, address, tenants seen
    "identity.mfa.middleware.SecondFactorGateMiddleware",  # a session owing a second factor reaches its pages only
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kit.errors.ApplicationErrorMiddleware",  # a refusal no page handled: its status and the error page
]

ROOT_URLCONF = "mcp_platform.urls"
WSGI_APPLICATION = "mcp_platform.wsgi.application"
ASGI_APPLICATION = "mcp_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.tenant",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'platform.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # WAL lets the web workers and the job runner use one file at once. IMMEDIATE: a transaction takes the
    # write lock when it begins and waits its turn (timeout), so two processes changing the same rows run one
    # after the other, as SELECT ... FOR UPDATE makes them on PostgreSQL; with SQLite's default (DEFERRED)
    # the second would fail with "database is locked" when it first writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", "timeout": 20,
         "transaction_mode": "IMMEDIATE"}
    )
    # Tests on SQLite (the embedded lane of test.sh) use a file, as the embedded mode does: an in-memory
    # database's shared cache fails concurrent writers at once instead of making them wait.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-platform.sqlite3")}
else:
    # Reusing connections is worth 4x on the token endpoint (bench/README.md).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "identity.User"
AUTHENTICATION_BACKENDS = ["identity.backends.EmailBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "console:home"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    # ~40,000 breached passwords shipped in the package, checked offline (identity/people/passwords.py)
    {"NAME": "identity.people.passwords.BreachedPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# The languages of the end-user pages (tenants/locale.py chooses one per request); each but English has a
# catalog in locale/<code>/LC_MESSAGES (README "Languages"). Named in their own language: the tenant setting
# and the discovery metadata list them.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("es", "Español"), ("ja", "日本語")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Security headers and cookies -------------------------------------------------------------------
_https = PUBLIC_URL.startswith("https://")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
if SESSION_COOKIE_SECURE and not env.str("SESSION_COOKIE_DOMAIN", default=""):
    # __Host-: the browser only accepts these cookies over https, for exactly this host, on path /, so a
    # sibling subdomain cannot plant or shadow a session (RFC 6265bis §4.1.3.2).
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=IS_PRODUCTION and _https)
# /metrics answers only this bearer token, and is absent without one (mcp_platform/metrics.py).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# How many reverse proxies in front append to X-Forwarded-For (0: REMOTE_ADDR is the client; mcp_platform/proxy.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SILENCED_SYSTEM_CHECKS = [
    # http redirect URIs are accepted for loopback hosts only (RFC 8252 §7.3, oauth.clients.services), which DOT's
    # scheme-wide switch cannot express.
    "oauth2_provider.W008",
] + ([
    # TLS terminates at the reverse proxy in front of the platform (README, "Production").
    "security.W008",
] if not SECURE_SSL_REDIRECT else [])
# Rate limits (kit/ratelimit.py; SECURITY.md says which fail open and why).
SIGNIN_RATE_PER_ADDRESS = env.int("SIGNIN_RATE_PER_ADDRESS", default=30)  # attempts a minute
SIGNIN_LOCKOUT_FAILURES = env.int("SIGNIN_LOCKOUT_FAILURES", default=10)  # failed passwords per account ...
SIGNIN_LOCKOUT_SECONDS = env.int("SIGNIN_LOCKOUT_SECONDS", default=900)  # ... within this window lock it
PASSWORD_RESET_RATE_PER_ADDRESS = env.int("PASSWORD_RESET_RATE_PER_ADDRESS", default=10)  # requests an hour
PASSWORD_RESET_RATE_PER_ACCOUNT = env.int("PASSWORD_RESET_RATE_PER_ACCOUNT", default=3)  # mails an hour
PASSWORD_RESET_MAX_AGE_MINUTES = env.int("PASSWORD_RESET_MAX_AGE_MINUTES", default=60)
INVITATION_MAX_AGE_HOURS = env.int("INVITATION_MAX_AGE_HOURS", default=72)
# Second factors (identity/mfa/): wrong codes or passkeys per account before a lockout of the window,
# how recent a factor a sensitive console action wants, and the WebAuthn relying party (default: PUBLIC_URL's host).
MFA_CODE_FAILURES = env.int("MFA_CODE_FAILURES", default=5)
MFA_LOCKOUT_SECONDS = env.int("MFA_LOCKOUT_SECONDS", default=900)
MFA_STEP_UP_SECONDS = env.int("MFA_STEP_UP_SECONDS", default=300)
WEBAUTHN_RP_ID = env.str("WEBAUTHN_RP_ID", default="")
TOKEN_RATE_PER_CLIENT = env.int("TOKEN_RATE_PER_CLIENT", default=600)  # token requests a minute
INTROSPECTION_RATE_PER_CALLER = env.int("INTROSPECTION_RATE_PER_CALLER", default=3000)  # a minute
# client_credentials, introspection and revocation answered in front of Django (oauth/lean); off: Django only.
LEAN_PROTOCOL_PATH = env.bool("LEAN_PROTOCOL_PATH", default=True)
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

# --- E-mail ---------------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="MCP Auth Platform <noreply@localhost>")

# --- Cache ----------------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Django's backend minus a new redis-py client per operation (mcp_platform/cache.py, bench/README.md).
    CACHES = {"default": {"BACKEND": "mcp_platform.cache.ReusingRedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}}}
else:
    # Shared by every process of this machine, as Redis is by every server (mcp_platform/cache.py).
    CACHES = {"default": {"BACKEND": "mcp_platform.cache.EmbeddedCache", "LOCATION": str(VAR_DIR / "cache"),
                          "SHARDS": 4, "DATABASE_TIMEOUT": 0.1}}

# --- Celery ---------------------------------------------------------------------------------------
# With REDIS_URL: Redis is the broker. Without: kombu's filesystem transport under var/broker, so the
# embedded job runner (a real Celery worker with embedded beat, started by `manage.py serve`) runs the
# same tasks and schedule with no service to install.
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    for sub in ("queue", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # kombu's default is ./control, i.e. wherever the process was started (it ended up in the repo)
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="platform")
HEARTBEAT_INTERVAL_SECONDS = env.int("HEARTBEAT_INTERVAL_SECONDS", default=60)
KEY_ROTATION_CHECK_SECONDS = env.int("KEY_ROTATION_CHECK_SECONDS", default=60)  # how often the key lifecycle runs
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=60)  # a job whose worker died is resumed after this

# --- Outbound requests (kit.egress) ---------------------------------------------------------------
# Networks every outbound fetch to a tenant-, client- or provider-chosen address may reach although they
# are not public (comma-separated CIDRs; plain http is accepted to them). Empty: public addresses only.
EGRESS_ALLOWED_NETWORKS = env.str("EGRESS_ALLOWED_NETWORKS", default="")

# --- Audit ----------------------------------------------------------------------------------------
# AUDIT_STRICT: an unregistered audit action raises (the test suite) instead of logging a warning.
AUDIT_STRICT = env.bool("AUDIT_STRICT", default=False)
AUDIT_CHECKPOINT_EVERY = env.int("AUDIT_CHECKPOINT_EVERY", default=1000)  # events between signed checkpoints
AUDIT_SINK_TIMEOUT_SECONDS = env.float("AUDIT_SINK_TIMEOUT_SECONDS", default=10.0)
AUDIT_SINK_BATCH = env.int("AUDIT_SINK_BATCH", default=100)
AUDIT_SINK_MAX_ATTEMPTS = env.int("AUDIT_SINK_MAX_ATTEMPTS", default=12)  # then dead letter (about 2 hours)
AUDIT_SINK_BACKOFF_SECONDS = env.float("AUDIT_SINK_BACKOFF_SECONDS", default=2.0)  # doubles per failure, max 15 min
AUDIT_SINK_ALLOW_HTTP_LOOPBACK = env.bool("AUDIT_SINK_ALLOW_HTTP_LOOPBACK", default=DEBUG)
AUDIT_EXPORT_DIR = VAR_DIR / "exports"
AUDIT_EXPORT_KEEP_DAYS = env.int("AUDIT_EXPORT_KEEP_DAYS", default=7)  # export files are removed after this
# The operator's floor under every tenant's audit retention, and how long a shortened retention waits
# before a purge uses it (the floor must exceed the delay, so the change itself is never purged).
# Refused requests are audited per source and minute (audit/failures.py); past this many sources in one
# chain and minute, the rest share one window, so failing on purpose cannot flood a tenant's chain.
AUDIT_FAILURE_SOURCES_PER_MINUTE = env.int("AUDIT_FAILURE_SOURCES_PER_MINUTE", default=20)
AUDIT_RETENTION_MIN_DAYS = env.int("AUDIT_RETENTION_MIN_DAYS", default=90)
AUDIT_RETENTION_CHANGE_DELAY_DAYS = env.int("AUDIT_RETENTION_CHANGE_DELAY_DAYS", default=7)

# --- REST API -------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "oauth.api.authentication.PlatformTokenAuthentication",  # client_credentials tokens with admin scopes
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.CreatedCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.PlatformAutoSchema",
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Bounded nesting, no NUL or lone surrogates: hostile JSON is a 400 on every endpoint, never a 500.
    "DEFAULT_PARSER_CLASSES": ["tenants.api.parsers.BoundedJSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "MCP Auth Platform API",
    "DESCRIPTION": "Tenant REST API: tenants, members, MCP resources, clients, tokens, keys and audit.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Request bodies are their own components (no read-only fields) and refuse undeclared fields.
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "tenants.api.schema.refuse_additional_properties"],
}

# --- Single sign-on through tenants' identity providers ---------------------------------------------
# Upstream providers must use https; this admits http://127.0.0.1 / localhost providers (tests, laptops).
SSO_ALLOW_HTTP_LOOPBACK = env.bool("SSO_ALLOW_HTTP_LOOPBACK", default=False)

# The tour's Notes MCP server (run.sh: `serve --demo-mcp`, seeded by seed_demo) listens on 127.0.0.1 here.
# In the embedded mode its URL is the one loopback target the registry's outbound checks (verification, tool
# import) are meant to reach without an operator's allow-list; production has no demo server.
DEMO_MCP_PORT = env.int("DEMO_MCP_PORT", default=8765)
DEMO_MCP_URL = "" if IS_PRODUCTION else f"http://127.0.0.1:{DEMO_MCP_PORT}/mcp"
# Identity providers on private addresses (on-premises Keycloak, ADFS); off: no SSRF into our network.
SSO_ALLOW_PRIVATE_NETWORKS = env.bool("SSO_ALLOW_PRIVATE_NETWORKS", default=False)

# --- Client ID Metadata Documents (oauth/registration/cimd.py) --------------------------------------
# Development and tests only: documents (and private_key_jwt jwks_uri) on loopback addresses, http or https.
REGISTRATION_CIMD_ALLOW_LOOPBACK = env.bool("REGISTRATION_CIMD_ALLOW_LOOPBACK", default=False)
# A PEM file of CA certificates trusted for documents in addition to the system's (a private or test CA).
REGISTRATION_CIMD_CA_FILE = env.str("REGISTRATION_CIMD_CA_FILE", default="")

# --- OAuth (django-oauth-toolkit with tenant-scoped swapped models) -------------------------------
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth.AccessToken"
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth.RefreshToken"
OAUTH2_PROVIDER_GRANT_MODEL = "oauth.Grant"
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth.IDToken"
OAUTH2_PROVIDER = {
    # Tenant-aware parts of oauth/ (ARCHITECTURE §3); never mutate these per request.
    "OAUTH2_VALIDATOR_CLASS": "oauth.protocol.validators.TenantOAuth2Validator",
    "OAUTH2_SERVER_CLASS": "oauth.protocol.server.TenantServer",
    "OIDC_SERVER_CLASS": "oauth.protocol.server.TenantServer",
    "OAUTH2_BACKEND_CLASS": "oauth.protocol.server.TenantOAuthLibCore",
    "ACCESS_TOKEN_GENERATOR": "oauth.protocol.tokens.access_token_generator",
    "REFRESH_TOKEN_GENERATOR": "oauth.protocol.tokens.refresh_token_generator",
    "OIDC_ENABLED": True,
    "SCOPES": {"openid": "Confirm who you are", "profile": "See your name", "email": "See your e-mail address",
               "offline_access": "Stay connected"},
    "DEFAULT_SCOPES": [],
    "PKCE_REQUIRED": True,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "ALLOW_LOCALHOST_LOOPBACK": True,  # MCP clients register http://localhost:<any port>/callback
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ROTATE_REFRESH_TOKEN": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
    "ACCESS_TOKEN_EXPIRE_SECONDS": 600,  # per tenant and per resource in practice (oauth.protocol.tokens)
    "ID_TOKEN_EXPIRE_SECONDS": 3600,
    "REFRESH_TOKEN_EXPIRE_SECONDS": 365 * 24 * 3600,  # upper bound; the tenant's setting is enforced
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    # A deploy-check gate only (no runtime effect): http redirect URIs exist for RFC 8252 loopback
    # callbacks, and oauth.clients.services refuses http for any other host, which DOT's check cannot see.
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "DCR_ENABLED": False,  # DOT's registration is not tenant-aware; oauth/registration is
    "CIMD_ENABLED": False,
}

# --- Logging: one JSON object a line, with the request id -----------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "audit.context.RequestContextLogFilter"},
                "frequent_tasks": {"()": "mcp_platform.logging.FrequentTaskFilter"}},
    "formatters": {"json": {"()": "mcp_platform.logging.JSONFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json",
                    "filters": ["request_context", "frequent_tasks"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
