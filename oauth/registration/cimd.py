"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, MCP SEP-991), per tenant.

A ``client_id`` that is an https URL names a JSON document describing the client. The fetch is an
outbound request to an address the client chose, made on the pre-authentication path, so it goes through
the egress guard (kit.egress: https only, resolved once and pinned, non-public addresses refused, no
redirects, one deadline, a streamed size cap); failures are backed off per URL.
``REGISTRATION_CIMD_ALLOW_LOOPBACK`` (tests and local development only) additionally admits http and https
on loopback addresses; ``EGRESS_ALLOWED_NETWORKS`` applies as to every outbound fetch.

Each tenant keeps its own ``ClientRegistration`` and client for a URL (ARCHITECTURE §4), cached per the
document's Cache-Control and re-validated with its ETag when stale.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from oauth2_provider.cimd import CIMDError, _backoff_cache_key, _effective_max_age, _fetch_slot, _validate_client_id_url
from oauth2_provider.settings import oauth2_settings

from kit import egress

from ..models import Application
from . import ratelimit, services
from .metadata import RegistrationError
from .models import ClientRegistration, RegistrationMode
from .policy import policy_of

log = logging.getLogger(__name__)


def loopback_allowed() -> bool:
    return settings.REGISTRATION_CIMD_ALLOW_LOOPBACK


def egress_policy() -> egress.Policy:
    """The guard's policy for documents: REGISTRATION_CIMD_ALLOW_LOOPBACK admits loopback (and http to
    it), REGISTRATION_CIMD_CA_FILE adds a CA, EGRESS_ALLOWED_NETWORKS applies as everywhere."""
    return egress.policy(loopback=loopback_allowed(), timeout=oauth2_settings.CIMD_FETCH_TIMEOUT_SECONDS,
                         max_bytes=oauth2_settings.CIMD_MAX_DOCUMENT_SIZE,
                         ca_file=getattr(settings, "REGISTRATION_CIMD_CA_FILE", None) or None)


def is_cimd_client_id(client_id) -> bool:
    """URL-shaped client ids go through the guard (an http one is refused there, with an audit event)."""
    return isinstance(client_id, str) and client_id[:8].lower().startswith(("https://", "http://"))


def _check_url(url: str):
    if len(url) > 255:
        raise CIMDError("client_id URL is longer than 255 characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (an out-of-range port raises here)
    except ValueError as exc:
        raise CIMDError(f"client_id is not a valid URL: {exc}") from exc
    # Plain http passes here only where the guard may admit it (loopback allowed, or operator networks);
    # the guard then decides per address.
    if parts.scheme == "http" and (loopback_allowed() or egress.policy().networks) and parts.hostname:
        if parts.username or parts.password or parts.fragment or not parts.path:
            raise CIMDError("client_id URL must have a path and no userinfo or fragment")
        return parts
    return _validate_client_id_url(url)


@dataclass
class Fetched:
    document: dict | None  # None: 304 Not Modified
    expires_at: datetime
    etag: str = ""
    sha256: str = ""


def fetch(url: str, *, etag: str = "") -> Fetched:
    """GETs the document through the egress guard (pinned address, one deadline, streamed size cap, no
    redirects). Raises CIMDError saying what was wrong."""
    _check_url(url)
    headers = {"Accept": "application/json", "User-Agent": "mcp-auth-platform CIMD fetcher"}
    if etag:
        headers["If-None-Match"] = etag
    policy = egress_policy()
    try:
        response = egress.fetch("GET", url, policy, headers=headers)
    except egress.EgressError as exc:
        if exc.reason == "too_large":
            raise CIMDError(f"the document is larger than {policy.max_bytes} bytes") from exc
        if exc.reason == "refused":
            raise CIMDError(f"{exc}; client ID metadata documents must be served from public addresses") from exc
        raise CIMDError(f"could not fetch the document: {exc}") from exc
    return _read(response)


def _read(response: egress.Response) -> Fetched:
    if 300 <= response.status_code < 400 and response.status_code != 304:
        raise CIMDError(f"the document URL redirects (HTTP {response.status_code} to "
                        f"'{response.headers.get('Location', '')[:200]}'); redirects are not followed: serve the "
                        "document at the client_id URL itself")
    max_age = _effective_max_age(response.headers.get("Cache-Control"))
    expires_at = timezone.now() + timedelta(seconds=max_age)
    if response.status_code == 304:
        return Fetched(None, expires_at, response.headers.get("ETag", ""))
    if response.status_code != 200:
        raise CIMDError(f"the document URL answered HTTP {response.status_code}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    structured_json = media_type.startswith("application/") and media_type.endswith("+json")  # RFC 6839
    if media_type != "application/json" and not structured_json:
        raise CIMDError(f"the document is not JSON (Content-Type '{media_type[:80]}')")
    body = response.content
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise CIMDError("the document is not valid JSON") from exc
    if not isinstance(document, dict):
        raise CIMDError("the document must be a JSON object")
    return Fetched(document, expires_at, response.headers.get("ETag", "")[:200], hashlib.sha256(body).hexdigest())


def _fetch_checked(url: str, *, etag: str = "") -> Fetched:
    fetched = fetch(url, etag=etag)
    if fetched.document is not None and fetched.document.get("client_id") != url:
        raise CIMDError("the document's client_id is not the URL it was fetched from")
    return fetched


def _address(request) -> str | None:
    # A Django request, or the oauthlib request of the validator (whose headers are a copy of META).
    meta = getattr(request, "META", None) or getattr(request, "headers", None) or {}
    return meta.get("REMOTE_ADDR")


def cimd_client(tenant, url: str, request=None) -> Application | None:
    """The tenant's client for a CIMD client_id, fetching or re-validating its document as needed.

    Returns None when the URL is not acceptable, the tenant takes no CIMD clients, or the document cannot
    be fetched or fails the checks (each failure is audited; a known client keeps its last good document
    through a transient failure). The returned client may be pending or rejected: the caller decides."""
    if not is_cimd_client_id(url):
        return None
    address = _address(request)
    request = request if hasattr(request, "META") else None  # audit.record reads Django requests only
    registration = (ClientRegistration.objects.for_tenant(tenant).select_related("application")
                    .filter(cimd_url=url).first())
    if registration is not None and registration.cimd_expires_at and registration.cimd_expires_at > timezone.now():
        return registration.application
    policy = policy_of(tenant)
    if registration is None and policy.cimd_mode == RegistrationMode.CLOSED:
        return None
    backoff = f"{_backoff_cache_key(url)}:{tenant.pk}"
    if cache.get(backoff):
        return registration.application if registration else None
    with _fetch_slot() as acquired:
        if not acquired:
            return registration.application if registration else None
        try:
            if registration is None:
                limited = ratelimit.hit(tenant=tenant, address=address or "", policy=policy)
                if limited is not None:
                    raise CIMDError(f"registration rate limit per {limited[0] or 'address'} reached")
            fetched = _fetch_checked(url, etag=registration.cimd_etag if registration else "")
            if registration is None:
                registration = services.cimd_register(tenant=tenant, url=url, document=fetched.document,
                                                      fetched=fetched, request=request, address=address,
                                                      requester=_user(request))
            else:
                services.cimd_refresh(registration=registration, document=fetched.document, fetched=fetched,
                                      request=request)
            return registration.application
        except (CIMDError, RegistrationError, ValueError, OSError) as exc:
            # A client-controlled URL on the pre-authentication path: every failure is "unknown client",
            # never a 500 (a malformed URL, a TLS failure, a socket error alike).
            reason = exc.description if isinstance(exc, RegistrationError) else str(exc) or type(exc).__name__
            log.info("CIMD client %s refused at %s: %s", url, tenant.slug, reason)
            services.cimd_failed(tenant=tenant, url=url, reason=reason, request=request, address=address)
            cache.set(backoff, True, oauth2_settings.CIMD_FAILURE_BACKOFF_SECONDS)
            return registration.application if registration else None


def _user(request):
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


