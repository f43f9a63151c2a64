"""The one application error type, and its one rendering for the console (the API's is
tenants/api/errors.py, built on ``ApplicationError.as_body``).

Every app's business rules refuse a change by raising an ``ApplicationError`` (or its app's subclass:
``AuditError``, ``RegistryError``, ``OAuthServiceError``, ...). The message says what to do instead;
``code`` is stable for programs, ``field`` names the input at fault, ``details`` carries anything more a
program may use. The HTTP status follows from the code unless the raiser says otherwise.
"""

from __future__ import annotations

# The codes that are not "your input is wrong" (400).
STATUS_OF_CODE = {"duplicate": 409, "last_owner": 409, "forbidden": 403, "unavailable": 503}


class ApplicationError(Exception):
    """A business rule refused the request; the message says what to do instead."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.field = field
        self.status = status or STATUS_OF_CODE.get(self.code, 400)
        self.details = details or {}

    def fields(self) -> dict | None:
        return {self.field: [self.message]} if self.field else None

    def as_body(self) -> dict:
        """The REST API's error envelope: {"error": {"code", "message", "fields"?, "details"?}}."""
        body = {"code": self.code, "message": self.message}
        if self.field:
            body["fields"] = self.fields()
        if self.details:
            body["details"] = self.details
        return {"error": body}


def add_to_form(form, exc: ApplicationError, aliases: dict | None = None) -> None:
    """Shows a refusal on the form field it names (``aliases``: the service's field name -> the form's),
    else at the top of the form."""
    field = exc.field if exc.field in form.fields else (aliases or {}).get(exc.field)
    form.add_error(field if field in form.fields else None, exc.message)


def wants_json(request) -> bool:
    accept = request.META.get("HTTP_ACCEPT", "")
    return "text/html" not in accept or "/.well-known/" in request.path_info


def error_page(request, status: int, code: str, message: str, tenant=None):
    """An error outside the REST API: JSON for programs (OAuth's error shape), else the error page."""
    from django.http import JsonResponse
    from django.shortcuts import render

    if wants_json(request):
        return JsonResponse({"error": code, "error_description": message}, status=status)
    return render(request, "errors/tenant.html",
                  {"status": status, "error": code, "description": message, "tenant": tenant}, status=status)


class ApplicationErrorMiddleware:
    """The console's handler: an ``ApplicationError`` a page did not handle itself is its status and the
    error page (or JSON), never a 500. Pages that keep the person on a form still catch it and
    ``add_to_form``; the REST API answers through its own exception handler before this sees anything."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exc):
        if isinstance(exc, ApplicationError):
            return error_page(request, exc.status, exc.code, exc.message, getattr(request, "tenant", None))
        return None
