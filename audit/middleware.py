import re
import uuid

from .context import RequestContext, bind_request_context, reset_request_context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is trusted solely when a proxy middleware rewrote REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR") or None


def request_id_of(incoming: str) -> str:
    """The caller's X-Request-ID when it is a sane one, else a fresh id."""
    return incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex


class RequestContextMiddleware:
    """Binds request id, client address and user agent for audit events and logs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = request_id_of(incoming)
        request.request_id = request_id
        ctx = RequestContext(
            request_id=request_id,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:512],
        )
        token = bind_request_context(ctx)
        try:
            response = self.get_response(request)
        finally:
            reset_request_context(token)
        response["X-Request-ID"] = request_id
        return response
