"""Console pages that start oauth's jobs: bulk revocation requests (the client, user and resource pages post
here), and the key-rotation page: the tenant's key timeline, its rotation policy, rotate now (a form posted
to the keys page, oauth/console.py, the one rotate-now handler), and emergency rotation behind a typed
confirmation. The job list itself is jobs/views.py: these pages need oauth's services (revocation,
rotation), which the jobs app sits below.

Reads go through oauth.signing.rotation's timeline; writes through oauth.signing.rotation and
oauth.grants.revocation, always for ``self.tenant``.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect
from django.urls import path, re_path
from django.views import View
from django.views.generic import TemplateView

from kit.errors import ApplicationError, add_to_form
from kit.stepup import StepUpMixin
from mcp_registry import selectors as registry
from tenants.console import TenantConsoleMixin
from tenants.selectors import member_by_email

from .config.services import tenant_auth_settings
from .grants import revocation
from .models import Application, KeyState
from .signing import rotation


class RevokeForm(forms.Form):
    client_id = forms.CharField(required=False, max_length=255)
    user = forms.EmailField(required=False, label="User e-mail")
    resource = forms.CharField(required=False, max_length=2000, label="Resource URI or name")


class TokenRevocationView(TenantConsoleMixin, View):
    """POST from the client, user or resource pages (or the jobs page): queue a revocation job."""

    section = "console:jobs"

    def post(self, request, slug):
        form = RevokeForm(request.POST)
        if not form.is_valid():
            messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
            return redirect("console:jobs", slug=slug)
        data, criteria = form.cleaned_data, {}
        if data["client_id"]:
            criteria["client"] = Application.objects.for_tenant(self.tenant).filter(client_id=data["client_id"]).first()
            if criteria["client"] is None:
                messages.error(request, f"no client '{data['client_id']}' in this tenant")
                return redirect("console:jobs", slug=slug)
        if data["user"]:
            criteria["user"] = member_by_email(self.tenant, data["user"])
            if criteria["user"] is None:
                messages.error(request, f"no member '{data['user']}' in this tenant")
                return redirect("console:jobs", slug=slug)
        if data["resource"]:
            # A URI nothing is registered at still names the audience of tokens to revoke.
            named = data["resource"]
            criteria["resource"] = registry.resource_by_uri_or_name(self.tenant, named) or named
        try:
            revocation.revocation_request(tenant=self.tenant, actor=request.user, request=request, **criteria)
        except ApplicationError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Revocation queued; its progress shows below.")
        return redirect("console:jobs", slug=slug)


class PolicyForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Rotate automatically")
    rotation_interval = forms.IntegerField(min_value=1, label="Rotation interval (seconds)",
                                           help_text="How long a key signs before its successor takes over.")
    lead_time = forms.IntegerField(min_value=1, label="Lead time (seconds)",
                                   help_text="How long the next key is published before it signs; at least the "
                                             "JWKS cache lifetime.")
    removal_grace = forms.IntegerField(min_value=0, label="Removal grace (seconds)",
                                       help_text="How long a retired key stays published after its last token "
                                                 "expired (resource servers' clock leeway).")


class KeyRotationView(TenantConsoleMixin, StepUpMixin, TemplateView):
    """The key timeline and the rotation policy (GET shows, POST saves the policy)."""

    section = "console:keys"
    template_name = "console/key_rotation.html"

    def get_context_data(self, form=None, **kwargs):
        context = super().get_context_data(**kwargs)
        policy = rotation.policy_of(self.tenant)
        active = rotation.active_key_of(self.tenant)
        context.update(
            form=form or PolicyForm(initial={name: getattr(policy, name) for name in rotation.POLICY_FIELDS}),
            timeline=rotation.key_timeline(self.tenant), active=active,
            signing_alg=tenant_auth_settings(self.tenant).signing_alg,
            jwks_max_age=rotation.jwks_cache_lifetime(), states=KeyState)
        return context

    def post(self, request, slug):
        form = PolicyForm(request.POST)
        if form.is_valid():
            try:
                rotation.rotation_policy_update(tenant=self.tenant, actor=request.user, request=request,
                                                **form.cleaned_data)
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, "Rotation policy saved.")
                return redirect("console:key-rotation", slug=slug)
        return self.render_to_response(self.get_context_data(form=form))


class KeyRotationActionView(TenantConsoleMixin, StepUpMixin, View):
    """POST emergency (the admin types the compromised kid to confirm). Rotate now is the keys page's
    (oauth/console.py KeysView), which this page's button posts to."""

    section = "console:keys"

    def post(self, request, slug, verb):
        kid = request.POST.get("kid", "")
        try:
            if request.POST.get("confirm", "").strip() != kid or not kid:
                messages.error(request, "Type the compromised key's kid exactly to confirm an emergency rotation.")
            else:
                result = rotation.key_emergency_rotate(tenant=self.tenant, actor=request.user, request=request,
                                                       kid=kid)
                if result is None:
                    messages.info(request, f"Key {kid} was already removed; nothing done.")
                else:
                    messages.success(request, f"Emergency rotation: {result.compromised} removed from the JWKS, "
                                              f"{result.revoked} token(s) revoked, {result.active.kid} signs now.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:key-rotation", slug=slug)


console_urlpatterns = [
    path("<str:slug>/jobs/revoke-tokens", TokenRevocationView.as_view(), name="revoke-tokens"),
    path("<str:slug>/keys/rotation/", KeyRotationView.as_view(), name="key-rotation"),
    re_path(r"^(?P<slug>[^/]+)/keys/rotation/(?P<verb>emergency)$", KeyRotationActionView.as_view(),
            name="key-rotation-action"),
]
