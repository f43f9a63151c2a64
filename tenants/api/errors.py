"""The REST API's one exception handler, and its one error format:

    {"error": {"code": "validation_error", "message": "...", "fields": {"slug": ["..."]}}}

An ``ApplicationError`` (kit/errors.py) renders itself in that envelope; DRF's and Django's own
exceptions are put into it here.
"""

from django.core.exceptions import PermissionDenied
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kit.errors import ApplicationError

_CODES = {
    status.HTTP_400_BAD_REQUEST: "validation_error",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


def _flatten(detail):
    if isinstance(detail, list):
        return [str(item) for item in detail]
    if isinstance(detail, dict):
        return {key: _flatten(value) for key, value in detail.items()}
    return [str(detail)]


def error_response(code: str, message: str, http_status: int, fields: dict | None = None, headers=None):
    body = {"error": {"code": code, "message": message}}
    if fields:
        body["error"]["fields"] = fields
    return Response(body, status=http_status, headers=headers)


def _audit_denial(request, exc) -> None:
    """A refused API call, aggregated per address and minute (audit/failures.py), in the chain of the
    tenant the credential resolved to, or the platform's when there is none (no or a bad credential)."""
    if request is None:
        return
    tenant = getattr(request, "tenant", None)
    import audit

    audit.failure(tenant if tenant is not None and hasattr(tenant, "slug") else None, "security.api_denied",
                  source=request.META.get("REMOTE_ADDR") or "unknown", target=("api", "", request.path[:255]),
                  request=request, method=request.method, path=request.path[:300],
                  status=exc.status_code, reason=str(getattr(exc, "detail", ""))[:200])


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):  # every app's refusals, audit's included (kit/errors.py)
        return Response(exc.as_body(), status=exc.status)
    if isinstance(exc, DataError):
        # The database refused a value the serializers let through (a NUL byte, an integer or a time zone
        # out of range): the caller's input, so a 400, never a 500.
        return error_response("validation_error", "a value is out of range or contains characters that cannot be "
                              "stored (such as NUL); check the request's values", 400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed, exceptions.PermissionDenied)):
        _audit_denial(context.get("request"), exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = getattr(exc, "error_code", None) or _CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        fields = _flatten(detail) if isinstance(detail, dict) else {"non_field_errors": _flatten(detail)}
        first = next(iter(fields.values()))
        message = first[0] if isinstance(first, list) and first else "The request is not valid."
        return error_response(code, str(message), response.status_code, fields, headers=response.headers)
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail else response.status_text
    return error_response(code, message, response.status_code, headers=response.headers)
