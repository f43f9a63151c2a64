"""The console page of a tenant's MFA policy: who at this tenant must have a second factor."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect
from django.views.generic import TemplateView

from kit.stepup import StepUpMixin
from tenants.console import TenantConsoleMixin

from . import selectors, services
from .models import Rule


class MfaPolicyView(TenantConsoleMixin, StepUpMixin, TemplateView):
    template_name = "identity/mfa/console_policy.html"
    section = "console:mfa"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(rule=selectors.rule_of(self.tenant), rules=Rule.choices)
        return context

    def post(self, request, slug):
        try:
            services.policy_set(tenant=self.tenant, rule=request.POST.get("rule", "")[:20], actor=request.user,
                                request=request)
        except services.MfaError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "MFA policy saved.")
        return redirect("console:mfa", slug=self.tenant.slug)
