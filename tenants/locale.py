"""The language of a tenant's end-user pages: sign-in, consent, approval, errors, account pages.

Chosen per request, the first that names a supported language (settings.LANGUAGES) wins:

1. ``ui_locales`` in the query (OIDC Core §3.1.2.1: a space-separated list, most preferred first). The
   authorization endpoint keeps it in the session (``remember_ui_locales``), so the sign-in, single sign-on
   and consent pages of the same flow speak it although their URLs do not carry it;
2. ``Accept-Language``;
3. the tenant's ``default_language``;
4. ``settings.LANGUAGE_CODE`` (English).

The console, the REST API and the admin stay in ``settings.LANGUAGE_CODE``: their templates are not
translated, so a translated form error would be the only foreign line on an English page, and API error
messages are a contract. Protocol fields (``error_description``) are English whatever the page says: RFC 6749
§5.2 allows only ASCII there.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation.trans_real import parse_accept_lang_header

SESSION_KEY = "ui_locales"
UNTRANSLATED_PREFIXES = ("/console/", "/api/", "/admin/")
MAX_PREFERENCES = 10  # of a ui_locales list: nobody prefers more, and each is a lookup


def supported_language(tag: str) -> str | None:
    """The supported language for a BCP 47 tag (``de-AT`` -> ``de``), or None."""
    try:
        return translation.get_supported_language_variant(tag)
    except LookupError:
        return None


def from_preference_list(value) -> str | None:
    if not isinstance(value, str):
        return None
    for tag in value.split()[:MAX_PREFERENCES]:
        if (language := supported_language(tag)) is not None:
            return language
    return None


def from_accept_language(header: str) -> str | None:
    for tag, quality in parse_accept_lang_header(header or ""):
        if tag != "*" and quality > 0 and (language := supported_language(tag)) is not None:  # q=0: "not this"
            return language
    return None


def is_end_user_request(request) -> bool:
    return getattr(request, "tenant", None) is not None and not request.path_info.startswith(UNTRANSLATED_PREFIXES)


def language_of(request, tenant) -> str:
    """The language of an end-user page for ``tenant`` (None: an unknown tenant's error page)."""
    session = getattr(request, "session", None)
    return (from_preference_list(request.GET.get("ui_locales"))
            or (from_preference_list(session.get(SESSION_KEY)) if session is not None else None)
            or from_accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
            or (supported_language(tenant.default_language) if tenant is not None else None)
            or settings.LANGUAGE_CODE)


def remember_ui_locales(request) -> None:
    """Called by the authorization endpoint: this flow's ``ui_locales``, or none if the request has none (a
    preference belongs to one authorization request, not to the browser). The middleware chose this
    request's language before, from what the session said then: choose again."""
    language = from_preference_list(request.GET.get("ui_locales"))
    if language is not None:
        if request.session.get(SESSION_KEY) != language:
            request.session[SESSION_KEY] = language
    elif SESSION_KEY in request.session:
        del request.session[SESSION_KEY]
        request.LANGUAGE_CODE = language_of(request, request.tenant)
        translation.activate(request.LANGUAGE_CODE)  # until the middleware's override ends with the request


def page_language(request, tenant):
    """A context manager that renders a page outside the middleware (the tenant middleware's own error
    pages) in the language this request's end-user pages get."""
    return translation.override(language_of(request, tenant))


class TenantLocaleMiddleware:
    """Activates the end-user language for tenant pages, English everywhere else (module docstring)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        end_user = is_end_user_request(request)
        language = language_of(request, request.tenant) if end_user else settings.LANGUAGE_CODE
        with translation.override(language):
            request.LANGUAGE_CODE = language
            response = self.get_response(request)
        if end_user and response.get("Content-Type", "").startswith("text/html"):
            # Pages differ by Accept-Language; JSON documents (metadata, JWKS) do not and stay cacheable.
            patch_vary_headers(response, ("Accept-Language",))
            response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        return response
