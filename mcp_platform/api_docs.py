"""What /api/ answers outside the DRF views: a JSON 404 for unknown paths (not the console's HTML page),
and ReDoc served from the vendored sidecar, with no web fonts from elsewhere and the one CSP relaxation
it needs (ReDoc injects its styles inline and runs its search in a blob: worker)."""

from django.conf import settings
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView

REDOC_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
             "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


def _routed(path: str) -> bool:
    try:
        return resolve(path).func is not api_not_found
    except Resolver404:
        return False


def api_not_found(request, path=""):
    if settings.APPEND_SLASH and not request.path.endswith("/") and _routed(f"{request.path}/"):
        return HttpResponsePermanentRedirect(f"{request.path}/")
    return JsonResponse({"error": {"code": "not_found", "message": f"no API endpoint at {request.path}; the "
                                   "operations are listed at /api/v1/schema/ and /api/v1/docs/"}}, status=404)


class OfflineRedocView(SpectacularRedocView):
    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = REDOC_CSP
        return response
