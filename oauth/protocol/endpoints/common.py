"""Shared pieces of the protocol endpoints: RFC 6749 §5.2 error bodies and the branded error page."""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote

from django.http import Http404, JsonResponse
from django.shortcuts import render

from kit import ratelimit

MAX_PARAMETER_LENGTH = 8192


# C0 control characters except tab, newline and carriage return. One regex search instead of a Python
# loop per character: that loop was 11 % of an introspection request's CPU (a JWT is ~700 characters).
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def malformed_parameter(request) -> str | None:
    """RFC 6749 parameters are printable text: a NUL or other control character, or a value longer than
    any token we issue, can only be an attack or a broken client. Says which parameter, or None."""
    for source in (request.GET, request.POST):
        for name, values in source.lists():
            for value in values:
                if len(value) > MAX_PARAMETER_LENGTH or CONTROL_CHARACTER.search(value):
                    return name[:40]
    return None


def claimed_client_id(request) -> str:
    """The client_id a request names (HTTP Basic user or form field), before anything is verified."""
    return claimed_client_id_of(request.META.get("HTTP_AUTHORIZATION", ""), request.POST.get("client_id") or "")


def claimed_client_id_of(authorization: str, form_client_id: str) -> str:
    """``claimed_client_id`` from the Authorization header and the form's client_id (the lean path,
    oauth/lean, counts its rate limits under the same name)."""
    if authorization[:6].lower() == "basic ":
        try:
            return unquote(base64.b64decode(authorization[6:].strip()).decode("utf-8").partition(":")[0])[:255]
        except (ValueError, UnicodeDecodeError):
            return ""
    return form_client_id[:255]


RATE_WINDOW = 60  # seconds: the protocol endpoints' limits are per minute


def rate_limit_name(endpoint: str, tenant_id, caller: str) -> str:
    return f"oauth:rl:{endpoint}:{tenant_id}:{caller}"


def rate_limited(request, endpoint: str, limit: int, client_id: str):
    """429 with Retry-After when ``client_id`` has made more than ``limit`` requests to ``endpoint`` of
    this tenant this minute. Fails open: a Redis outage must not stop token issuance (SECURITY.md)."""
    tenant = tenant_of(request)
    wait = ratelimit.over(rate_limit_name(endpoint, tenant.pk, client_id or request.META.get('REMOTE_ADDR', '')),
                          limit=limit, window=RATE_WINDOW, fail_open=True)
    if wait is None:
        return None
    return oauth_error("temporarily_unavailable", f"more than {limit} {endpoint} requests a minute from this "
                       f"client; wait {wait} seconds and try again", status=429, headers={"Retry-After": str(wait)})


def refuse_malformed(request):
    name = malformed_parameter(request)
    if name is None:
        return None
    return oauth_error("invalid_request", f"parameter '{name}' contains control characters or is too long")


def no_store(response):
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def oauth_error(error: str, description: str, status: int = 400, headers: dict | None = None):
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return no_store(response)


def error_page(request, error: str, description: str, status: int = 400):
    """For errors that must not be redirected (unknown client, unregistered redirect URI): RFC 6749
    §4.1.2.1 says tell the user, never redirect to an address the client did not register."""
    return render(request, "oauth/error.html",
                  {"error": error, "description": description, "status": status}, status=status)


def tenant_of(request):
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        raise Http404("no tenant here: use /t/<tenant>/... or the tenant's verified domain")
    return tenant


def bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
