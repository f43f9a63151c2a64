"""Console pages for tenants and members, and the platform operators' tenant list."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.mixins import LoginRequiredMixin, UserPassesTestMixin
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views import View
from django.views.generic import TemplateView

from audit.selectors import events_for_tenant
from jobs.selectors import last_heartbeat
from kit.errors import ApplicationError, add_to_form
from kit.stepup import StepUpMixin

from . import domains, selectors, services
from .console import TenantConsoleMixin
from .forms import MemberAddForm, MemberRoleForm, SuspendForm, TenantBrandingForm, TenantCreateForm
from .models import Membership, Tenant


@login_required
def console_home(request):
    """Sends each person where they work: one tenant's dashboard, a choice, or the platform view."""
    memberships = list(selectors.console_memberships(request.user))
    if len(memberships) == 1 and not request.user.is_staff:
        return redirect("console:dashboard", slug=memberships[0].tenant.slug)
    if not memberships and request.user.is_staff:
        return redirect("console:platform-tenants")
    return TemplateView.as_view(template_name="console/choose_tenant.html",
                                extra_context={"memberships": memberships})(request)


class DashboardView(TenantConsoleMixin, TemplateView):
    template_name = "console/dashboard.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        events = events_for_tenant(self.tenant)
        context.update(
            member_count=selectors.members_of(self.tenant).count(),
            events_24h=events.filter(occurred_at__gte=timezone.now() - timedelta(hours=24)).count(),
            recent_events=events[:10],
            heartbeat=last_heartbeat(),
        )
        return context


class MembersView(TenantConsoleMixin, StepUpMixin, TemplateView):
    template_name = "console/members.html"
    section = "console:members"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            members=selectors.members_of(self.tenant, search=self.request.GET.get("q", "")),
            add_form=kwargs.get("add_form") or MemberAddForm(),
            roles=MemberRoleForm.base_fields["role"].choices,
        )
        return context

    def post(self, request, slug):
        form = MemberAddForm(request.POST)
        if form.is_valid():
            try:
                membership = services.membership_add(tenant=self.tenant, actor=request.user,
                                                     actor_membership=self.membership, request=request,
                                                     invite=True, **form.cleaned_data)
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, f"{membership.user.email} added as {membership.get_role_display()}; "
                                          "an invitation is on its way to them.")
                return redirect("console:members", slug=slug)
        return self.render_to_response(self.get_context_data(add_form=form), status=400)


class MemberActionView(TenantConsoleMixin, StepUpMixin, View):
    """POST-only: change a member's role or remove them."""

    section = "console:members"

    def post(self, request, slug, member_id, verb):
        membership = get_object_or_404(Membership.objects.for_tenant(self.tenant), pk=member_id)
        try:
            if verb == "role":
                form = MemberRoleForm(request.POST)
                if not form.is_valid():
                    raise ApplicationError("choose a valid role")
                services.membership_change_role(membership=membership, role=form.cleaned_data["role"],
                                                actor=request.user, actor_membership=self.membership,
                                                request=request)
                messages.success(request, f"{membership.user.email} is now {membership.get_role_display()}.")
            else:
                services.membership_remove(membership=membership, actor=request.user,
                                           actor_membership=self.membership, request=request)
                messages.success(request, f"{membership.user.email} removed.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:members", slug=slug)


class SettingsView(TenantConsoleMixin, TemplateView):
    template_name = "console/settings.html"
    section = "console:settings"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or TenantBrandingForm(instance=self.tenant)
        tenant = Tenant.objects.get(pk=self.tenant.pk)  # the live row: verification is not cached
        context["domain"] = tenant if tenant.custom_domain else None
        if tenant.custom_domain:
            context["domain_record_name"] = domains.challenge_name(tenant.custom_domain)
        return context

    def post(self, request, slug):
        form = TenantBrandingForm(request.POST, instance=Tenant.objects.get(pk=self.tenant.pk))
        if form.is_valid():
            try:
                services.tenant_update(tenant=self.tenant, actor=request.user, request=request,
                                       **{f: form.cleaned_data[f] for f in form.changed_data})
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, "Settings saved.")
                return redirect("console:settings", slug=slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class CustomDomainActionView(TenantConsoleMixin, View):
    """POST-only: look the domain's TXT record up now, or remove the domain."""

    section = "console:settings"

    def post(self, request, slug, verb):
        tenant = Tenant.objects.get(pk=self.tenant.pk)
        try:
            if verb == "verify":
                check = services.custom_domain_verify(tenant=tenant, actor=request.user, request=request)
                if check.found:
                    messages.success(request, f"{tenant.custom_domain} is verified: it now serves {tenant.issuer}.")
                else:
                    messages.error(request, f"Not verified: {check.reason}.")
            else:
                services.custom_domain_remove(tenant=tenant, actor=request.user, request=request)
                messages.success(request, "Custom domain removed.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:settings", slug=slug)


class StaffRequiredMixin(LoginRequiredMixin, UserPassesTestMixin):
    def test_func(self):
        return selectors.is_operator(self.request.user)


class PlatformTenantsView(StaffRequiredMixin, TemplateView):
    template_name = "console/platform_tenants.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        q = self.request.GET.get("q", "")
        context.update(tenants=selectors.tenants_for_platform(search=q), q=q,
                       form=kwargs.get("form") or TenantCreateForm(), suspend_form=SuspendForm())
        return context

    def post(self, request):
        form = TenantCreateForm(request.POST)
        if form.is_valid():
            try:
                tenant = services.tenant_create(actor=request.user, request=request, **form.cleaned_data)
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                invited = f" An invitation went to its owner {form.cleaned_data['owner_email']}." \
                    if form.cleaned_data.get("owner_email") else ""
                messages.success(request, f"Tenant {tenant.slug} created. Its issuer is {tenant.issuer}.{invited}")
                return redirect("console:platform-tenants")
        return self.render_to_response(self.get_context_data(form=form), status=400)


class PlatformTenantActionView(StaffRequiredMixin, StepUpMixin, View):
    def post(self, request, slug, verb):
        tenant = get_object_or_404(Tenant, slug=slug)
        try:
            if verb == "suspend":
                services.tenant_suspend(tenant=tenant, actor=request.user, request=request,
                                        reason=request.POST.get("reason", ""))
                messages.success(request, f"Tenant {slug} suspended.")
            else:
                services.tenant_reactivate(tenant=tenant, actor=request.user, request=request)
                messages.success(request, f"Tenant {slug} reactivated.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:platform-tenants")
