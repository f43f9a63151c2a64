"""The authorization endpoint and its consent page.

Order of checks, each answered the safest way it can be:
1. client and redirect URI (oauthlib via DOT): an unknown client or unregistered redirect URI is shown
   on a branded error page and never redirected to (OAuth 2.1 §7.12);
2. PKCE S256 and the RFC 8707 target (resource + scopes, oauth/protocol/targets.py; without ``resource`` the
   default rule there picks one, and the consent page says so): errors are redirected to the client with
   ``state`` and ``iss`` (RFC 9207), before the user signs in or sees a consent page;
3. the user: signed in (else the tenant's sign-in page by URL name; this app does not import
   ``identity``), recently enough for ``prompt=login`` and ``max_age``, with a second factor when
   ``acr_values`` asks for one (else identity's challenge page, by URL name), and a member of the tenant;
4. consent: remembered per user, client, resource and scope set, else the consent page. The page posts
   back to the same URL, so every parameter is validated again from the query string and nothing the
   browser could tamper with is trusted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View
from oauth2_provider.exceptions import FatalClientError, OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

import audit
from kit import authn
from tenants.locale import remember_ui_locales
from tenants.selectors import membership_of

from ...clients.selectors import client_by_id
from ...grants import services as grant_services
from ...models import Consent
from .. import registration_hooks, targets
from .common import error_page, malformed_parameter, tenant_of

FRESH_SIGN_IN_SECONDS = 60  # prompt=login is satisfied by a sign-in this recent (the one it just caused)
# RFC 7636 §4.1-4.2: unreserved characters, 43 to 128 of them (an S256 challenge is exactly 43).
CODE_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


class AuthorizationView(OAuthLibMixin, View):
    http_method_names = ["get", "post"]

    def get(self, request, *args, **kwargs):
        return self.authorize(request, decision=None)

    def post(self, request, *args, **kwargs):
        decision = request.POST.get("decision")
        return self.authorize(request, decision=decision if decision in ("allow", "deny") else None)

    # --- responses ----------------------------------------------------------------------------------

    def redirect_to_client(self, client, redirect_uri: str, params) -> OAuth2ResponseRedirect:
        uri = _add_iss_to_redirect(add_params_to_uri(redirect_uri, list(params)), self.tenant.issuer)
        return OAuth2ResponseRedirect(uri, client.get_allowed_schemes())

    def client_error(self, client, credentials, error: str, description: str):
        params = [("error", error), ("error_description", description)]
        if credentials.get("state"):
            params.append(("state", credentials["state"]))
        return self.redirect_to_client(client, credentials["redirect_uri"], params)

    def oauthlib_error(self, request, error: OAuthToolkitError):
        oauth_error = error.oauthlib_error
        if isinstance(oauth_error, oauth_errors.InvalidClientIdError):  # pending/rejected/suspended: say so
            held = registration_hooks.held_response(request, self.tenant, request.GET.get("client_id"))
            if held is not None:
                return held
        if isinstance(oauth_error, (oauth_errors.InvalidRedirectURIError, oauth_errors.MismatchingRedirectURIError)):
            client_id = (request.GET.get("client_id") or "")[:255]
            audit.failure(self.tenant, "security.redirect_uri_refused",
                          source=request.META.get("REMOTE_ADDR") or "unknown",
                          target=("oauth.application", "", client_id), request=request, client_id=client_id,
                          redirect_uri=(request.GET.get("redirect_uri") or "")[:500])
        client = client_by_id(self.tenant, oauth_error.client_id) if oauth_error.redirect_uri else None
        if isinstance(error, FatalClientError) or not oauth_error.redirect_uri or client is None:
            return error_page(request, oauth_error.error, self.fatal_description(oauth_error), status=400)
        return self.redirect_to_client(client, oauth_error.redirect_uri, oauth_error.twotuples)

    @staticmethod
    def fatal_description(oauth_error) -> str:
        if isinstance(oauth_error, (oauth_errors.InvalidClientIdError, oauth_errors.MissingClientIdError)):
            return _("This application is not registered with this organisation, or it is not approved yet. "
                     "Go back to the application and check its settings.")
        if isinstance(oauth_error, (oauth_errors.InvalidRedirectURIError, oauth_errors.MismatchingRedirectURIError,
                                    oauth_errors.MissingRedirectURIError)):
            return _("The application asked to send you back to an address it has not registered, so we "
                     "stopped here. Its developer must register that redirect URI.")
        return oauth_error.description or _("The authorization request is not valid.")

    # --- the flow -----------------------------------------------------------------------------------

    def authorize(self, request, decision):
        self.tenant = tenant = tenant_of(request)
        if (name := malformed_parameter(request)) is not None:
            return error_page(request, "invalid_request",
                              _("The request's '%(name)s' parameter contains control characters or is too long.")
                              % {"name": name})
        remember_ui_locales(request)  # the sign-in and consent pages of this flow speak its language
        try:
            _scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self.oauthlib_error(request, error)
        client = credentials.pop("request").client
        if request.GET.get("code_challenge_method") != "S256":
            return self.client_error(client, credentials, "invalid_request",
                                     'PKCE is required with code_challenge_method "S256" (plain is refused)')
        if not CODE_CHALLENGE.fullmatch(request.GET.get("code_challenge", "")):
            return self.client_error(client, credentials, "invalid_request",
                                     "code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' "
                                     "and '~' (RFC 7636 §4.2: the base64url SHA-256 of the verifier)")
        scope = request.GET.get("scope")
        try:
            target = targets.resolve(tenant=tenant, client=client, resources=request.GET.getlist("resource"),
                                     scopes=scope.split() if scope is not None else None,
                                     grant_type="authorization_code")
        except targets.TargetError as exc:
            return self.client_error(client, credentials, exc.error, exc.description)

        prompt = set(request.GET.get("prompt", "").split())
        if not request.user.is_authenticated or self.needs_fresh_sign_in(request, prompt):
            if "none" in prompt:
                return self.client_error(client, credentials, "login_required", "the user is not signed in")
            return self.to_sign_in(request, tenant)
        if authn.wants_multi_factor(request.GET.get("acr_values")) and not authn.context(
                request.session).multi_factor:
            if "none" in prompt:
                return self.client_error(client, credentials, "interaction_required",
                                         "the requested acr needs a second factor the session has not proved")
            return self.to_second_factor(request, tenant)
        if membership_of(request.user, tenant) is None:
            return error_page(request, "access_denied",
                              _("%(email)s is not a member of %(tenant)s. Sign in with an account of this "
                                "organisation, or ask its administrator to add you.")
                              % {"email": request.user.email, "tenant": tenant.label}, status=403)

        if decision == "deny":
            return self.client_error(client, credentials, "access_denied", "the user declined the request")
        consent = Consent.objects.for_tenant(tenant).filter(
            user=request.user, application=client, audience=target.audience).first()
        remembered = consent is not None and set(target.scopes) <= consent.scope_set
        if decision == "allow":
            grant_services.consent_grant(tenant=tenant, user=request.user, client=client, audience=target.audience,
                                         scopes=target.scopes, request=request, resource_chosen_by=target.chosen_by)
        elif not (remembered or client.skip_authorization):
            if "none" in prompt:
                return self.client_error(client, credentials, "consent_required", "the user has not consented")
            return self.consent_page(request, client, credentials, target)
        return self.issue_code(request, client, credentials, target)

    @staticmethod
    def auth_time(request) -> datetime | None:
        """When this session signed in (kit.authn); sessions older than that record: the account's last sign-in."""
        signed_in = authn.context(request.session).auth_time
        if signed_in:
            return datetime.fromtimestamp(signed_in, tz=UTC)
        return getattr(request.user, "last_login", None)

    def needs_fresh_sign_in(self, request, prompt) -> bool:
        """OIDC Core §3.1.2.1: ``prompt=login`` and ``max_age`` ask for a recent sign-in."""
        signed_in = self.auth_time(request)
        age = (timezone.now() - signed_in).total_seconds() if signed_in else None
        if "login" in prompt:
            return age is None or age > FRESH_SIGN_IN_SECONDS
        max_age = request.GET.get("max_age", "")
        return max_age.isdigit() and (age is None or age > int(max_age))

    @staticmethod
    def to_sign_in(request, tenant):
        # Drop prompt=login and max_age from the way back, or the user would be sent to sign in again and
        # again (max_age=0 is never met); the ID token's auth_time says how fresh the sign-in is.
        query = request.GET.copy()
        query.pop("max_age", None)
        if "login" in query.get("prompt", "").split():
            rest = [p for p in query["prompt"].split() if p != "login"]
            if rest:
                query["prompt"] = " ".join(rest)
            else:
                del query["prompt"]
        back = f"{request.path}?{query.urlencode()}"
        login = reverse("tenant-login", kwargs={"slug": tenant.slug})
        return redirect(f"{login}?{urlencode({'next': back})}")

    @staticmethod
    def to_second_factor(request, tenant):
        challenge = reverse("tenant-mfa-challenge", kwargs={"slug": tenant.slug})
        return redirect(f"{challenge}?{urlencode({'next': request.get_full_path()})}")

    def issue_code(self, request, client, credentials, target):
        credentials["resource"] = [target.audience] if target.resource is not None else []
        credentials["resource_chosen_by"] = target.chosen_by  # kept on the code, repeated by its tokens' audit
        credentials["auth_time"] = self.auth_time(request)
        sign_in = authn.context(request.session)
        credentials["amr"], credentials["acr"] = sign_in.amr, sign_in.acr
        try:
            uri, _, _, _ = self.create_authorization_response(request=request, scopes=target.scope,
                                                              credentials=credentials, allow=True)
        except OAuthToolkitError as error:
            return self.oauthlib_error(request, error)
        return OAuth2ResponseRedirect(uri, client.get_allowed_schemes())

    def consent_page(self, request, client, credentials, target):
        return render(request, "oauth/consent.html", {
            "client": client,
            "redirect_host": urlsplit(credentials["redirect_uri"]).netloc or credentials["redirect_uri"],
            "resource": target.resource,
            "audience": target.audience,
            "chosen_by_default": target.chosen_by_default,
            "scopes": target.scope_descriptions(),
            "action": request.get_full_path(),
            "trust": registration_hooks.trust_signals(client, credentials["redirect_uri"]),
        })
