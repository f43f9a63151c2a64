from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from . import flow

# What a gated session may still reach: the MFA pages themselves, signing out, and what pages load.
OPEN_URL_NAMES = {"logout", "tenant-brand-css"}


class SecondFactorGateMiddleware:
    """A signed-in session that still owes a second factor (a provider's sign-in at a tenant whose policy
    wants one, or a person policy now requires to enrol) reaches nothing but the MFA pages until it pays."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        gate = request.session.get(flow.GATE_KEY) if hasattr(request, "session") else None
        if gate and request.user.is_authenticated and not self._open(request):
            slug = flow._tenant_slug(request)
            target = flow.url("mfa-challenge" if gate == "challenge" else "mfa-account", slug,
                              next_url=request.get_full_path() if request.method == "GET" else "")
            if request.method == "GET" and not request.path.startswith("/api/"):
                return redirect(target)
            return JsonResponse({"error": {"code": "second_factor_required",
                                           "message": f"finish signing in with a second factor first: {target}"}},
                                status=403)
        return self.get_response(request)

    @staticmethod
    def _open(request) -> bool:
        if request.path.startswith("/static/"):
            return True
        try:
            name = resolve(request.path_info).url_name or ""
        except Resolver404:
            return False
        return name in OPEN_URL_NAMES or name.startswith(("mfa-", "tenant-mfa-"))
