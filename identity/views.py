"""End-user pages: sign-in (password or home-realm discovery to the tenant's provider) and the relying-party
endpoints of single sign-on (start, callback, back-channel logout, our private_key_jwt keys)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView

from tenants.models import CONSOLE_ROLES, Membership
from tenants.selectors import membership_of

from . import selectors, services, throttle
from .forms import EmailSignInForm, TenantSignInForm
from .mfa.signin import SecondFactorSignInMixin
from .sso import oidc
from .sso.flows import flow_begin, flow_take
from .sso.oidc import SSOError


def safe_tenant_next(request, target: str | None) -> str:
    """Only paths of this tenant: a sign-in page must not become an open redirect."""
    prefix = f"/t/{request.tenant.slug}/"
    if target and target.startswith(prefix) and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


def sso_start_url(idp, *, next_url: str = "", login_hint: str = "") -> str:
    query = urlencode({k: v for k, v in (("next", next_url), ("login_hint", login_hint)) if v})
    url = reverse("sso-start", kwargs={"slug": idp.tenant.slug, "idp_slug": idp.slug})
    return f"{url}?{query}" if query else url


def _public(name: str, idp) -> str:
    # From PUBLIC_URL, like the issuer: never from the Host header.
    return settings.PUBLIC_URL + reverse(name, kwargs={"slug": idp.tenant.slug, "idp_slug": idp.slug})


def sso_redirect_uri(idp) -> str:
    return _public("sso-callback", idp)


def provider_urls(idp) -> dict:
    """What the tenant admin registers at the provider."""
    return {"redirect_uri": sso_redirect_uri(idp),
            "backchannel_logout_uri": _public("sso-backchannel-logout", idp),
            "jwks_uri": _public("sso-jwks", idp)}


class ThrottledSignInMixin:
    """429 with Retry-After for an address over its attempt rate or an account locked by failed passwords
    (identity/throttle.py), before any password is checked."""

    def post(self, request, *args, **kwargs):
        wait = throttle.address_wait(request.META.get("REMOTE_ADDR", ""))
        locked_account = False
        if wait is None:
            wait = throttle.account_wait(request.POST.get("username", ""))
            locked_account = True
        if wait is None:
            return super().post(request, *args, **kwargs)
        minutes = max(1, wait // 60)
        if locked_account:
            message = ngettext("This account is locked after too many failed passwords. Try again in %(minutes)d "
                               "minute.", "This account is locked after too many failed passwords. Try again in "
                               "%(minutes)d minutes.", minutes)
        else:
            message = ngettext("Too many sign-in attempts from your network. Try again in %(minutes)d minute.",
                               "Too many sign-in attempts from your network. Try again in %(minutes)d minutes.",
                               minutes)
        form = self.get_form_class()(request=request, initial={"username": request.POST.get("username", "")})
        form.cleaned_data = {}  # an unbound form that carries the refusal, so no password is checked
        form.add_error(None, message % {"minutes": minutes})
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(wait)
        return response


class ConsoleSignInView(SecondFactorSignInMixin, ThrottledSignInMixin, auth_views.LoginView):
    """Sign-in for the admin console (tenant administrators and platform operators)."""

    form_class = EmailSignInForm
    template_name = "identity/console_login.html"
    redirect_authenticated_user = True


class TenantSignInView(SecondFactorSignInMixin, ThrottledSignInMixin, auth_views.LoginView):
    """The tenant-branded sign-in page that end users see during an OAuth authorization.

    Home-realm discovery: an address whose domain belongs to one of the tenant's providers goes to that
    provider (always when it requires SSO, otherwise when no password was typed); the providers are also
    offered as buttons; everyone else signs in with a password.
    """

    form_class = TenantSignInForm
    template_name = "identity/tenant_login.html"

    def dispatch(self, request, *args, **kwargs):
        if request.tenant is None:
            raise Http404("unknown tenant")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        email = request.POST.get("username", "").strip()
        idp = selectors.identity_provider_for_email(request.tenant, email)
        if idp is not None and (idp.sso_required or not request.POST.get("password")):
            return redirect(sso_start_url(idp, next_url=safe_tenant_next(request, self.get_redirect_url()),
                                          login_hint=email))
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        next_url = safe_tenant_next(self.request, self.get_redirect_url())
        context["providers"] = [(idp, sso_start_url(idp, next_url=next_url))
                                for idp in selectors.identity_providers_of(self.request.tenant, enabled_only=True)]
        return context

    def get_success_url(self):
        return (safe_tenant_next(self.request, self.get_redirect_url())
                or resolve_url("tenant-home", slug=self.request.tenant.slug))


class TenantHomeView(TemplateView):
    """Where a signed-in end user lands without an authorization request: their tenant's front door."""

    template_name = "identity/tenant_home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        context["console_role"] = user.is_authenticated and Membership.objects.for_tenant(self.request.tenant).filter(
            user=user, role__in=CONSOLE_ROLES).exists()
        return context


class SignOutView(auth_views.LogoutView):
    next_page = "login"


def tenant_brand_css(request, slug):
    """The tenant's accent colour as a stylesheet: the CSP allows no inline styles."""
    if request.tenant is None:
        raise Http404("unknown tenant")
    response = HttpResponse(f":root {{ --accent: {request.tenant.accent_color}; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=300"
    return response


# --- Single sign-on ---------------------------------------------------------------------------------------

def _provider_or_404(request, idp_slug: str):
    if request.tenant is None:
        raise Http404("unknown tenant")
    idp = selectors.identity_provider_by_slug(request.tenant, idp_slug)
    if idp is None:
        raise Http404(f"no identity provider '{idp_slug[:40]}' at this tenant")
    return idp


def sso_failure(request, idp, error: SSOError, *, record: bool = True):
    """The one page a person sees when a sign-in through a provider fails: what happened, what to do."""
    if record:
        services.federated_sign_in_failed(tenant=request.tenant, identity_provider=idp, error=error, request=request)
    return render(request, "identity/sso_error.html",
                  {"idp": idp, "message": str(error), "reason": error.reason,
                   "request_id": getattr(request, "request_id", ""),
                   "login_url": reverse("tenant-login", kwargs={"slug": request.tenant.slug})},
                  status=error.status)


def begin_sign_in(request, idp, *, next_url: str = "", login_hint: str = "", test: bool = False):
    """Redirects to the provider's authorization endpoint with a fresh state, nonce and PKCE challenge."""
    try:
        if not idp.enabled:
            raise SSOError("idp_disabled", f"{idp.name} is turned off for {idp.tenant.label}", status=403)
        metadata = oidc.discover(idp)
    except SSOError as error:
        return sso_failure(request, idp, error)
    flow = flow_begin(request, idp, next_url=next_url, test=test)
    return HttpResponseRedirect(oidc.authorization_url(idp, metadata, redirect_uri=sso_redirect_uri(idp), flow=flow,
                                                       login_hint=login_hint))


@method_decorator(never_cache, name="dispatch")
class SSOStartView(View):
    def get(self, request, slug, idp_slug):
        idp = _provider_or_404(request, idp_slug)
        return begin_sign_in(request, idp, next_url=safe_tenant_next(request, request.GET.get("next")),
                             login_hint=request.GET.get("login_hint", "").strip())


@method_decorator([csrf_exempt, never_cache], name="dispatch")
class SSOCallbackView(View):
    """The redirect URI. A form_post response (Apple) is bounced to GET: the session cookie is SameSite=Lax,
    so a cross-site POST arrives without it, while the top-level GET that follows carries it."""

    def post(self, request, slug, idp_slug):
        _provider_or_404(request, idp_slug)
        fields = ("code", "state", "iss", "error", "error_description")
        query = urlencode({k: request.POST[k][:2048] for k in fields if k in request.POST})
        return HttpResponseRedirect(f"{request.path}?{query}", status=303)

    def get(self, request, slug, idp_slug):
        idp = _provider_or_404(request, idp_slug)
        params = request.GET
        flow = flow_take(request, params.get("state", ""), tenant=request.tenant, idp=idp)
        try:
            if flow is None:
                raise SSOError("state_invalid", "sent a sign-in response that does not belong to a sign-in started "
                               "in this browser, or that was already used; start again from the sign-in page")
            mapped = self._verified_claims(request, idp, flow, params)
            if flow["test"]:
                return self._finish_test(request, idp, mapped)
            user, identity = services.federated_sign_in(identity_provider=idp, claims=mapped, request=request)
        except SSOError as error:
            if flow and flow["test"]:
                services.identity_provider_record_test(identity_provider=idp, actor=request.user, request=request,
                                                       result={"kind": "sign_in", "ok": False, "error": str(error),
                                                               "reason": error.reason})
            return sso_failure(request, idp, error)
        request.signin_method = f"sso:{idp.slug}"  # read by the signin.succeeded receiver
        login(request, user, backend="identity.backends.EmailBackend")
        services.federated_session_record(identity=identity, session_key=request.session.session_key,
                                          sid=mapped.sid)
        return redirect(flow["next"] or resolve_url("tenant-home", slug=request.tenant.slug))

    @staticmethod
    def _verified_claims(request, idp, flow, params) -> oidc.MappedClaims:
        if not idp.enabled:
            raise SSOError("idp_disabled", f"{idp.name} is turned off for {idp.tenant.label}", status=403)
        metadata = oidc.discover(idp)
        oidc.check_response_issuer(idp, metadata, params.get("iss"))
        if params.get("error"):
            description = params.get("error_description", "")[:200]
            raise SSOError("idp_error", f"refused the sign-in: {params['error'][:80]}"
                           f"{': ' + description if description else ''}")
        if not params.get("code"):
            raise SSOError("idp_error", "answered without an authorization code")
        tokens = oidc.exchange_code(idp, metadata, code=params["code"], verifier=flow["verifier"],
                                    redirect_uri=sso_redirect_uri(idp), secret=services.client_secret_of(idp),
                                    private_key_pem=services.private_key_of(idp))
        claims = oidc.validate_id_token(idp, metadata, tokens["id_token"], nonce=flow["nonce"])
        if idp.use_userinfo and isinstance(tokens.get("access_token"), str):
            info = oidc.fetch_userinfo(metadata, tokens["access_token"], claims["sub"])
            # Userinfo may add profile claims; it never overrides what the signed token says about who/where.
            claims = {**{k: v for k, v in info.items() if k not in ("iss", "aud", "sub", "tid")}, **claims}
        oidc.check_domain_claim(idp, claims)
        return oidc.map_claims(idp, claims)

    @staticmethod
    def _finish_test(request, idp, mapped):
        """A console "test sign-in": shows what the mapping makes of a real assertion; signs nobody in."""
        membership = membership_of(request.user, idp.tenant)  # a session bound elsewhere is no admin here
        if membership is None or not membership.is_admin:
            raise SSOError("test_not_allowed", "test sign-ins are for this tenant's administrators", status=403)
        services.identity_provider_record_test(
            identity_provider=idp, actor=request.user, request=request,
            result={"kind": "sign_in", "ok": True, "error": "", "claims": mapped.raw, "mapped": mapped.preview(),
                    "role": services.role_for_groups(idp, mapped.groups)})
        return redirect("console:sso-provider", slug=idp.tenant.slug, idp_id=idp.pk)


@method_decorator(csrf_exempt, name="dispatch")
class BackchannelLogoutView(View):
    """OpenID Connect Back-Channel Logout 1.0: the provider says a session ended; answers per §2.8."""

    http_method_names = ["post"]

    def post(self, request, slug, idp_slug):
        idp = _provider_or_404(request, idp_slug)
        token = request.POST.get("logout_token", "")
        try:
            if not token:
                raise SSOError("logout_token.missing", "sent a back-channel logout request without logout_token")
            if not idp.enabled:
                raise SSOError("idp_disabled", f"{idp.name} is turned off for {idp.tenant.label}")
            claims = oidc.validate_logout_token(idp, oidc.discover(idp), token)
            services.backchannel_logout(identity_provider=idp, claims=claims, request=request)
        except SSOError as error:
            services.federated_sign_in_failed(tenant=request.tenant, identity_provider=idp, error=error,
                                              request=request, action="sso.backchannel_logout_refused")
            response = JsonResponse({"error": "invalid_request", "error_description": f"{idp.name} {error}"},
                                    status=400)
        else:
            response = HttpResponse(status=200)
        response["Cache-Control"] = "no-store"
        return response


def provider_jwks(request, slug, idp_slug):
    """The public key the provider uses to check our private_key_jwt client assertions."""
    idp = _provider_or_404(request, idp_slug)
    response = JsonResponse(services.identity_provider_public_jwks(idp))
    response["Cache-Control"] = "public, max-age=300"
    return response
