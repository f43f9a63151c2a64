"""The second-factor pages, the same for the console (/mfa, /account/security) and for a tenant's people
(/t/<slug>/mfa, /t/<slug>/account/security, in the tenant's colours): the challenge at sign-in and at
step-up, and the page where a person enrols and removes factors and renews recovery codes."""

from __future__ import annotations

import json
import uuid

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache

from kit import authn

from . import flow, selectors, services, totp
from . import passkeys as webauthn
from .services import MfaError

ENROL_SECRET_KEY = "mfa_totp_enrol_secret"
NEW_CODES_KEY = "mfa_new_recovery_codes"
MAX_CREDENTIAL_BYTES = 16_384


def _tenant(request, slug):
    if slug is None:
        return None
    if getattr(request, "tenant", None) is None:
        raise Http404("unknown tenant")
    return request.tenant


def _json_body(request) -> dict:
    if len(request.body) > MAX_CREDENTIAL_BYTES:
        raise MfaError("too_large", _("The request is too large."))
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise MfaError("malformed", _("The request is not JSON.")) from exc
    if not isinstance(body, dict):
        raise MfaError("malformed", _("The request is not a JSON object."))
    return body


def _refusal(error: MfaError) -> JsonResponse:
    response = JsonResponse({"error": error.code, "message": str(error)}, status=error.status)
    if error.retry_after:
        response["Retry-After"] = str(error.retry_after)
    return response


@method_decorator(never_cache, name="dispatch")
class ChallengeView(View):
    """Asks for a second factor: of a sign-in waiting for one (nobody signed in yet), or of the signed-in
    person (a step-up, the gate after a provider's sign-in, or an ``acr_values`` that asks for it)."""

    def setup(self, request, *args, slug=None, **kwargs):
        super().setup(request, *args, **kwargs)
        self.tenant = _tenant(request, slug)
        self.slug = slug or ""
        self.pending = None
        if request.user.is_authenticated:
            self.user = request.user
        else:
            self.user, self.pending = flow.pending_user(request)

    def dispatch(self, request, *args, **kwargs):
        if self.user is None:
            login = reverse("tenant-login", kwargs={"slug": self.slug}) if self.slug else reverse("login")
            return redirect(login)
        return super().dispatch(request, *args, **kwargs)

    @property
    def purpose(self) -> str:
        return "sign_in" if self.pending else "step_up"

    def next_url(self) -> str:
        target = self.pending["next"] if self.pending else self.request.GET.get("next")
        return flow.safe_next(self.request, target, self.slug)

    def get(self, request, *args, **kwargs):
        return self.page()

    def page(self, error: MfaError | None = None):
        status = error.status if error else 200
        response = render(self.request, "identity/mfa/challenge.html", {
            "tenant": self.tenant, "error": str(error) if error else "",
            "has_totp": selectors.totp_devices_of(self.user).exists(),
            "has_passkey": selectors.passkeys_of(self.user).exists(),
            "has_factor": selectors.has_factor(self.user),
            "enrol_url": flow.url("mfa-account", self.slug, next_url=self.next_url()),
            "options_url": flow.url("mfa-challenge-passkey-options", self.slug),
            "passkey_url": flow.url("mfa-challenge-passkey", self.slug) + f"?{self.request.GET.urlencode()}",
            "email": self.user.email,
        }, status=status)
        if error and error.retry_after:
            response["Retry-After"] = str(error.retry_after)
        return response

    def post(self, request, *args, **kwargs):
        try:
            methods = services.code_verify(user=self.user, code=request.POST.get("code", "")[:64],
                                           purpose=self.purpose, tenant=self.tenant, request=request)
        except MfaError as error:
            return self.page(error)
        return self.finish(methods)

    def finish(self, methods: list[str]):
        if self.pending:
            pending = self.request.session.pop(flow.PENDING_KEY)
            return flow.complete_sign_in(self.request, self.user, backend=pending["backend"],
                                         methods=pending["methods"] + methods, next_url=self.next_url())
        flow.second_factor_proved(self.request, methods)
        return redirect(self.next_url())


class ChallengePasskeyOptionsView(ChallengeView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        passkeys = list(selectors.passkeys_of(self.user))
        if not passkeys:
            return _refusal(MfaError("no_passkey", _("This account has no passkey."), status=404))
        return JsonResponse(json.loads(webauthn.authentication_options(request.session, passkeys=passkeys)))


class ChallengePasskeyView(ChallengeView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        try:
            credential = json.dumps(_json_body(request).get("credential"))
            methods = services.passkey_verify(user=self.user, credential=credential, session=request.session,
                                              purpose=self.purpose, tenant=self.tenant, request=request)
        except MfaError as error:
            return _refusal(error)
        response = self.finish(methods)
        return JsonResponse({"redirect": response["Location"]})


@method_decorator(never_cache, name="dispatch")
class AccountView(View):
    """A person's second factors: enrol an authenticator app or a passkey, renew recovery codes, remove a
    factor. Changing anything once a factor exists asks for a fresh one first (a stolen session must not
    add its own factor or take the owner's away)."""

    def setup(self, request, *args, slug=None, **kwargs):
        super().setup(request, *args, **kwargs)
        self.tenant = _tenant(request, slug)
        self.slug = slug or ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            login = reverse("tenant-login", kwargs={"slug": self.slug}) if self.slug else reverse("login")
            return redirect_to_login(request.get_full_path(), login)
        if request.method == "POST" and (url := self.stale_factor_url()):
            return redirect(url) if not self.wants_json() else _refusal(
                MfaError("step_up_required", _("Confirm it is you with a second factor first."), status=403))
        return super().dispatch(request, *args, **kwargs)

    def wants_json(self) -> bool:
        return self.request.content_type == "application/json"

    def stale_factor_url(self) -> str | None:
        if not selectors.has_factor(self.request.user) or authn.context(self.request.session).second_factor_within(
                settings.MFA_STEP_UP_SECONDS):
            return None
        return flow.url("mfa-challenge", self.slug, next_url=flow.url("mfa-account", self.slug,
                                                                    next_url=self.request.GET.get("next", "")))

    def next_url(self) -> str:
        return flow.safe_next(self.request, self.request.GET.get("next"), self.slug)

    def get(self, request, *args, **kwargs):
        return self.page()

    def page(self, error: str = "", status: int = 200):
        user = self.request.user
        secret = self.request.session.get(ENROL_SECRET_KEY)
        if not secret:
            secret = self.request.session[ENROL_SECRET_KEY] = totp.new_secret()
        issuer = self.tenant.label if self.tenant else "MCP Auth Platform"
        uri = totp.provisioning_uri(secret, account=user.email, issuer=issuer)
        return render(self.request, "identity/mfa/account.html", {
            "tenant": self.tenant, "error": error, "email": user.email,
            "totp_devices": selectors.totp_devices_of(user), "passkeys": selectors.passkeys_of(user),
            "recovery_codes_left": selectors.unused_recovery_codes_of(user).count(),
            "has_factor": selectors.has_factor(user),
            "required": self.request.session.get(flow.GATE_KEY) == "enrol",
            "new_codes": self.request.session.pop(NEW_CODES_KEY, None),
            "totp_secret": secret, "totp_qr": totp.qr_svg(uri),
            "next": self.request.GET.get("next", ""), "continue_url": self.next_url(),
            "options_url": flow.url("mfa-account-passkey-options", self.slug),
            "passkey_url": flow.url("mfa-account-passkey", self.slug),
        }, status=status)

    def enrolled(self, methods: list[str], codes: list[str] | None):
        flow.second_factor_proved(self.request, methods)  # enrolling proves the factor now
        if codes:
            self.request.session[NEW_CODES_KEY] = codes
        return flow.url("mfa-account", self.slug, next_url=self.request.GET.get("next", ""))

    def post(self, request, *args, **kwargs):
        action = request.POST.get("action", "")
        try:
            if action == "totp":
                __, codes = services.totp_enrol(user=request.user, secret=request.session.get(ENROL_SECRET_KEY, ""),
                                               code=request.POST.get("code", "")[:16],
                                               name=request.POST.get("name", ""), tenant=self.tenant, request=request)
                request.session.pop(ENROL_SECRET_KEY, None)
                return redirect(self.enrolled(["otp"], codes))
            if action == "recovery_codes":
                request.session[NEW_CODES_KEY] = services.recovery_codes_generate(user=request.user,
                                                                                  tenant=self.tenant, request=request)
                return redirect(flow.url("mfa-account", self.slug, next_url=request.GET.get("next", "")))
            if action == "remove":
                factor_id = request.POST.get("factor", "")[:40]
                factor = selectors.factor_of(request.user, factor_id) if _is_uuid(factor_id) else None
                if factor is None:
                    return self.page(_("That factor is not one of yours."), status=404)
                services.factor_remove(user=request.user, factor=factor, tenant=self.tenant, request=request)
                return redirect(flow.url("mfa-account", self.slug, next_url=request.GET.get("next", "")))
        except MfaError as error:
            response = self.page(str(error), status=error.status)
            if error.retry_after:
                response["Retry-After"] = str(error.retry_after)
            return response
        return self.page(_("Unknown action."), status=400)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


class AccountPasskeyOptionsView(AccountView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        options = webauthn.registration_options(request.session, user=request.user,
                                                existing=selectors.passkeys_of(request.user))
        return JsonResponse(json.loads(options))


class AccountPasskeyView(AccountView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        try:
            body = _json_body(request)
            __, codes = services.passkey_enrol(user=request.user, credential=json.dumps(body.get("credential")),
                                              name=str(body.get("name", ""))[:80], session=request.session,
                                              tenant=self.tenant, request=request)
        except MfaError as error:
            return _refusal(error)
        return JsonResponse({"redirect": self.enrolled(["hwk", "user"], codes)})
