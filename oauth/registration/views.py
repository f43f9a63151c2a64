"""Console pages of the approval workflow: the queue with filters, a registration's detail (metadata,
justification, decision history) with approve / reject / suspend / re-approve, and the registration
settings (policy, automatic-approval rules, initial access tokens, trusted publishers)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import TemplateView

from kit.errors import ApplicationError
from kit.stepup import StepUpMixin
from tenants.console import TenantConsoleMixin

from . import selectors, services
from .models import ApprovalRule, InitialAccessToken, RegistrationMode, RuleKind, TrustedPublisher
from .policy import policy_of

SECTION = "console:clients"


class ApprovalQueueView(TenantConsoleMixin, TemplateView):
    template_name = "oauth/registration/queue.html"
    section = SECTION

    def get_context_data(self, **kwargs):
        params = self.request.GET
        status = params.get("status", "pending")
        context = super().get_context_data(**kwargs)
        context.update(
            registrations=selectors.registrations_of(self.tenant, status=status, source=params.get("source", ""),
                                                     search=params.get("q", "").strip()[:200])[:200],
            status=status, source=params.get("source", ""), q=params.get("q", ""),
            statuses=[("pending", "Pending"), ("approved", "Approved"), ("rejected", "Rejected"),
                      ("suspended", "Suspended"), ("all", "All")])
        return context


DECISIONS = {
    "approve": services.registration_approve,
    "reject": services.registration_reject,
    "suspend": services.registration_suspend,
    "reapprove": services.registration_reapprove,
}


class ApprovalDetailView(TenantConsoleMixin, StepUpMixin, TemplateView):
    template_name = "oauth/registration/detail.html"
    section = SECTION

    def registration(self):
        registration = selectors.registration_of(self.tenant, self.kwargs["pk"])
        if registration is None:
            raise Http404("no such registration in this tenant")
        return registration

    def get_context_data(self, **kwargs):
        registration = self.registration()
        context = super().get_context_data(**kwargs)
        context.update(registration=registration, client=registration.application,
                       metadata_json=json.dumps(registration.metadata, indent=2, sort_keys=True),
                       history=selectors.decision_history(registration))
        return context

    def post(self, request, slug, pk):
        registration = self.registration()
        decision = DECISIONS.get(request.POST.get("decision", ""))
        if decision is None:
            messages.error(request, "choose approve, reject, suspend or re-approve")
        else:
            try:
                decision(registration=registration, actor=request.user, reason=request.POST.get("reason", ""),
                         request=request)
                messages.success(request, f"{registration.application.name}: {registration.application.status}")
            except ApplicationError as exc:
                messages.error(request, str(exc))
        if request.POST.get("back") == "queue":
            return redirect("console:approvals", slug=self.tenant.slug)
        return redirect(request.path)


class RegistrationSettingsView(TenantConsoleMixin, TemplateView):
    template_name = "oauth/registration/settings.html"
    section = SECTION

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(policy=policy_of(self.tenant), modes=RegistrationMode.choices, rule_kinds=RuleKind.choices,
                       rules=ApprovalRule.objects.for_tenant(self.tenant),
                       tokens=InitialAccessToken.objects.for_tenant(self.tenant)[:50],
                       publishers=TrustedPublisher.objects.for_tenant(self.tenant),
                       new_token=self.request.session.pop("new_initial_access_token", None))
        return context

    def post(self, request, slug):
        form, actor, tenant = request.POST, request.user, self.tenant
        action = form.get("action", "")
        try:
            if action == "policy":
                services.policy_update(
                    tenant=tenant, actor=actor, request=request, dcr_mode=form.get("dcr_mode", ""),
                    cimd_mode=form.get("cimd_mode", ""), pending_cap=_int(form, "pending_cap"),
                    unused_expiry_days=_int(form, "unused_expiry_days"),
                    address_rate_per_minute=_int(form, "address_rate_per_minute"),
                    tenant_rate_per_minute=_int(form, "tenant_rate_per_minute"),
                    notify_emails=form.get("notify_emails", ""), webhook_url=form.get("webhook_url", ""),
                    webhook_secret=form.get("webhook_secret") or None)
            elif action == "rule_create":
                services.rule_create(tenant=tenant, actor=actor, request=request, kind=form.get("kind", ""),
                                     pattern=form.get("pattern", ""))
            elif action == "rule_delete":
                rule = ApprovalRule.objects.for_tenant(tenant).filter(pk=form.get("id")).first()
                if rule is None:
                    raise Http404("no such rule")
                services.rule_delete(rule=rule, actor=actor, request=request)
            elif action == "iat_create":
                _, token = services.initial_access_token_create(
                    tenant=tenant, actor=actor, request=request, label=form.get("label", ""),
                    days=_int(form, "days", 7), max_uses=_int(form, "max_uses", 1))
                request.session["new_initial_access_token"] = token  # shown once, on the next page
            elif action == "iat_revoke":
                row = InitialAccessToken.objects.for_tenant(tenant).filter(pk=form.get("id")).first()
                if row is None:
                    raise Http404("no such token")
                services.initial_access_token_revoke(row=row, actor=actor, request=request)
            elif action == "publisher_create":
                services.publisher_create(tenant=tenant, actor=actor, request=request, name=form.get("name", ""),
                                          issuer=form.get("issuer", ""), jwks=_json(form.get("jwks", "")))
            elif action == "publisher_delete":
                publisher = TrustedPublisher.objects.for_tenant(tenant).filter(pk=form.get("id")).first()
                if publisher is None:
                    raise Http404("no such publisher")
                services.publisher_delete(publisher=publisher, actor=actor, request=request)
            else:
                raise ApplicationError("unknown action")
            messages.success(request, "Saved.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect(request.path)


def _int(form, name: str, default: int = 0) -> int:
    try:
        return int(form.get(name, default))
    except (TypeError, ValueError) as exc:
        raise ApplicationError(f"{name} must be a whole number", field=name) from exc


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ApplicationError("jwks must be JSON (a JWK Set)", field="jwks") from exc
