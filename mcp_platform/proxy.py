"""The client's address behind reverse proxies.

Rate limits (per address) and audit events read ``REMOTE_ADDR``. Behind a proxy that is the proxy's
address, so every person would share one sign-in budget. With ``TRUSTED_PROXY_COUNT=N`` (the number of
proxies that each append to ``X-Forwarded-For``), the address the outermost trusted proxy saw replaces it;
entries further left were written by the client and are ignored, so a forged header changes nothing.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_address(meta: dict) -> str | None:
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return None
    hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    if len(hops) < count:
        return None  # not through all our proxies: keep the socket's address
    candidate = hops[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ForwardedForMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        address = client_address(request.META)
        if address:
            request.META["REMOTE_ADDR"] = address
        return self.get_response(request)
