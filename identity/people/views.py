"""End-user pages of people: accepting an invitation, resetting a forgotten password, one's sessions.

A link's token is moved from the URL into the session at once and the browser sent on to a URL without
it (as Django's own reset view does), so the token leaves no trace in Referer headers or the history.
The tenant pages (/t/<slug>/...) carry the tenant's branding; the same views serve the console's
(``request.tenant`` is None there).
"""

from __future__ import annotations

import hashlib
import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache

from kit import ratelimit
from kit.errors import ApplicationError
from kit.tasks import enqueue

from .. import selectors
from ..models import UserSession
from ..views import sso_start_url
from . import services
from .forms import ForgotPasswordForm, NewPasswordForm
from .sessions import device_of, live_sessions

log = logging.getLogger(__name__)

INVITATION_SESSION_KEY = "people_invitation_token"
RESET_SESSION_KEY = "people_reset_token"
REFUSED_STATUS = {"forged": 404, "expired": 410, "used": 410, "revoked": 410}


def _tenant_url(request, name: str, **kwargs) -> str:
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        return reverse(f"tenant-{name}", kwargs={"slug": tenant.slug, **kwargs})
    return reverse(name, kwargs=kwargs or None)


def _sign_in_url(request, next_url: str = "") -> str:
    tenant = getattr(request, "tenant", None)
    url = reverse("tenant-login", kwargs={"slug": tenant.slug}) if tenant else reverse("login")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _on_tenant_pages(view):
    """/t/<slug>/... of an unknown tenant is a 404; the console's variant has no slug."""
    def check(request, *args, **kwargs):
        if "slug" in kwargs and getattr(request, "tenant", None) is None:
            raise Http404("unknown tenant")
        return view(request, *args, **kwargs)
    return check


def refused_page(request, *, kind: str, reason: str):
    tenant = getattr(request, "tenant", None)
    services.link_refused(tenant=tenant, kind=kind, reason=reason, request=request)
    return render(request, "identity/people/link_refused.html",
                  {"kind": kind, "reason": reason, "sign_in_url": _sign_in_url(request),
                   "forgot_url": _tenant_url(request, "password-forgot")},
                  status=REFUSED_STATUS.get(reason, 400))


class StashTokenView(View):
    """GET .../<token>: keeps the token in the session and redirects to the page without it."""

    session_key = ""
    target = ""

    @method_decorator(never_cache)
    def get(self, request, token, slug=None):
        if slug is not None and getattr(request, "tenant", None) is None:
            raise Http404("unknown tenant")
        request.session[self.session_key] = token[:200]
        return redirect(_tenant_url(request, self.target))


class InvitationLinkView(StashTokenView):
    session_key, target = INVITATION_SESSION_KEY, "invitation"


class PasswordResetLinkView(StashTokenView):
    session_key, target = RESET_SESSION_KEY, "password-reset"


@method_decorator([never_cache, _on_tenant_pages], name="dispatch")
class InvitationView(View):
    """Accepting an invitation: a new account sets its password; an account that has one, or whose
    address the tenant signs in through SSO, signs in (password or provider) and then accepts."""

    template_name = "identity/people/invitation.html"

    def _invitation(self, request):
        token = request.session.get(INVITATION_SESSION_KEY)
        if not token:
            return None, render(request, "identity/people/link_refused.html",
                                {"kind": "invitation", "reason": "missing", "sign_in_url": _sign_in_url(request)},
                                status=400)
        try:
            return services.invitation_for_link(request.tenant, token), None
        except services.LinkRefused as refused:
            request.session.pop(INVITATION_SESSION_KEY, None)
            return None, refused_page(request, kind="invitation", reason=refused.reason)

    def _render(self, request, invitation, form=None, status=200):
        tenant, user = request.tenant, invitation.user
        here = reverse("tenant-invitation", kwargs={"slug": tenant.slug})
        signed_in = request.user.is_authenticated
        sso_only = selectors.sso_required_for(tenant, invitation.email) is not None
        if signed_in and request.user.pk == user.pk:
            mode = "accept"
        elif signed_in:
            mode = "other_account"
        elif user.has_usable_password() or sso_only:
            mode = "sign_in"
        else:
            mode = "set_password"
        providers = [(idp, sso_start_url(idp, next_url=here, login_hint=invitation.email))
                     for idp in selectors.identity_providers_of(tenant, enabled_only=True)]
        return render(request, self.template_name, {
            "invitation": invitation, "mode": mode, "form": form or NewPasswordForm(user=user),
            "providers": providers if mode in ("sign_in", "set_password") else [], "sso_only": sso_only,
            "sign_in_url": _sign_in_url(request, here)}, status=status)

    def get(self, request, slug):
        invitation, refused = self._invitation(request)
        return refused or self._render(request, invitation)

    def post(self, request, slug):
        invitation, refused = self._invitation(request)
        if refused:
            return refused
        user = invitation.user
        try:
            if request.user.is_authenticated and request.user.pk == user.pk:
                services.invitation_accept(invitation=invitation, user=user, request=request)
            elif (request.user.is_authenticated or user.has_usable_password()
                  or selectors.sso_required_for(request.tenant, invitation.email)):
                return self._render(request, invitation, status=403)
            else:
                form = NewPasswordForm(request.POST, user=user)
                if not form.is_valid():
                    return self._render(request, invitation, form=form, status=400)
                services.invitation_accept(invitation=invitation, user=user, password=form.cleaned_data["password1"],
                                           request=request)
                request.signin_method = "invitation"  # read by the sign-in receivers
                login(request, user, backend="identity.backends.EmailBackend")
        except services.LinkRefused as refused:
            request.session.pop(INVITATION_SESSION_KEY, None)
            return refused_page(request, kind="invitation", reason=refused.reason)
        except ApplicationError as exc:
            form = NewPasswordForm(user=user)
            form.add_error(None, exc.message)
            return self._render(request, invitation, form=form, status=400)
        request.session.pop(INVITATION_SESSION_KEY, None)
        messages.success(request, _("Welcome to %(tenant)s.") % {"tenant": request.tenant.label})
        return redirect("tenant-home", slug=request.tenant.slug)


def reset_rate_wait(request, email: str) -> tuple[int | None, bool]:
    """(seconds to wait when this address asked too often, whether a mail may go to ``email``). The
    per-account count is kept for every address typed, so it tells nothing about which ones exist."""
    address = request.META.get("REMOTE_ADDR", "")
    wait = ratelimit.over(f"reset:rl:addr:{address}", limit=settings.PASSWORD_RESET_RATE_PER_ADDRESS, window=3600)
    if wait is not None:
        return wait, False
    over_account = ratelimit.over(f"reset:rl:acct:{email.strip().lower()[:254]}",
                                  limit=settings.PASSWORD_RESET_RATE_PER_ACCOUNT, window=3600)
    return None, over_account is None


@method_decorator([never_cache, _on_tenant_pages], name="dispatch")
class ForgotPasswordView(View):
    """Asks for an address and answers the same whether or not an account has it; the mail task decides."""

    template_name = "identity/people/forgot_password.html"

    def get(self, request, slug=None):
        return render(request, self.template_name, {"form": ForgotPasswordForm(), "sign_in_url": _sign_in_url(request)})

    def post(self, request, slug=None):
        form = ForgotPasswordForm(request.POST)
        context = {"form": form, "sign_in_url": _sign_in_url(request)}
        if not form.is_valid():
            return render(request, self.template_name, context, status=400)
        email = form.cleaned_data["email"]
        wait, may_send = reset_rate_wait(request, email)
        if wait is not None:
            context["wait_minutes"] = max(1, wait // 60)
            response = render(request, self.template_name, context, status=429)
            response["Retry-After"] = str(wait)
            return response
        if may_send:
            tenant = getattr(request, "tenant", None)
            try:
                enqueue(services.SEND_PASSWORD_RESET_TASK, email, str(tenant.pk) if tenant else None,
                        request.META.get("REMOTE_ADDR", ""), get_language() or "")
            except Exception:  # the broker is down: say so rather than pretend a mail is coming
                log.exception("could not queue a password-reset mail")
                context["unavailable"] = True
                return render(request, self.template_name, context, status=503)
        context["sent_to"] = email
        return render(request, self.template_name, context)


@method_decorator([never_cache, _on_tenant_pages], name="dispatch")
class PasswordResetView(View):
    template_name = "identity/people/password_reset.html"

    def _reset(self, request):
        token = request.session.get(RESET_SESSION_KEY)
        if not token:
            return None, render(request, "identity/people/link_refused.html",
                                {"kind": "password_reset", "reason": "missing", "sign_in_url": _sign_in_url(request),
                                 "forgot_url": _tenant_url(request, "password-forgot")}, status=400)
        try:
            reset = services.password_reset_for_link(token)
            tenant = getattr(request, "tenant", None)
            if reset.tenant_id != (tenant.pk if tenant else None):
                raise services.LinkRefused("forged")  # a link is valid only at the page it was asked from
            return reset, None
        except services.LinkRefused as refused:
            request.session.pop(RESET_SESSION_KEY, None)
            return None, refused_page(request, kind="password_reset", reason=refused.reason)

    def get(self, request, slug=None):
        reset, refused = self._reset(request)
        return refused or render(request, self.template_name, {"form": NewPasswordForm(user=reset.user),
                                                               "email": reset.user.email})

    def post(self, request, slug=None):
        reset, refused = self._reset(request)
        if refused:
            return refused
        form = NewPasswordForm(request.POST, user=reset.user)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form, "email": reset.user.email}, status=400)
        try:
            services.password_reset_complete(reset=reset, password=form.cleaned_data["password1"], request=request)
        except services.LinkRefused as refused:
            request.session.pop(RESET_SESSION_KEY, None)
            return refused_page(request, kind="password_reset", reason=refused.reason)
        request.session.pop(RESET_SESSION_KEY, None)
        messages.success(request, _("Your password was changed and every session of yours was ended. Sign in with "
                                    "the new password."))
        return redirect(_sign_in_url(request))


def session_handle(session_key: str) -> str:
    """What a page shows for a session: never the key itself, which is a credential."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:24]


@method_decorator([never_cache, _on_tenant_pages], name="dispatch")
class SessionsView(View):
    """A person's own sessions, everywhere on the platform: device, address, last use; end one or all."""

    template_name = "identity/people/sessions.html"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(_sign_in_url(request, request.path))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, slug=None):
        current = request.session.session_key
        rows = live_sessions(UserSession.objects.filter(user=request.user).select_related("tenant"))
        sessions = [{"handle": session_handle(row.session_key), "device": device_of(row.user_agent),
                     "ip": row.ip, "last_seen_at": row.last_seen_at, "created_at": row.created_at,
                     "where": row.tenant.label if row.tenant else _("Console"),
                     "current": row.session_key == current} for row in rows]
        return render(request, self.template_name, {"sessions": sessions})

    def post(self, request, slug=None):
        current = request.session.session_key
        wanted = request.POST.get("end", "")
        mine = {session_handle(key): key for key in
                UserSession.objects.filter(user=request.user).values_list("session_key", flat=True)}
        if wanted == "others":
            ended = services.own_sessions_end(user=request.user, keep=current, request=request)
        elif wanted == "all":
            ended = services.own_sessions_end(user=request.user, request=request)
        elif wanted in mine:
            ended = services.own_sessions_end(user=request.user, session_keys=[mine[wanted]], request=request)
        else:
            raise Http404("no such session of yours")
        if wanted == "all" or mine.get(wanted) == current:
            return redirect(_sign_in_url(request))
        messages.success(request, _("Sessions ended: %(count)s.") % {"count": ended["sessions_ended"]})
        return redirect(_tenant_url(request, "account-sessions"))
