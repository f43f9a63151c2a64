"""Console pages of people: a tenant's invitations (resend, revoke) and ending a member's sessions."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from kit.errors import ApplicationError
from tenants.console import TenantConsoleMixin
from tenants.models import Membership

from . import selectors, services


class InvitationsView(TenantConsoleMixin, TemplateView):
    template_name = "console/invitations.html"
    section = "console:members"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        status = self.request.GET.get("status", "pending")
        context.update(invitations=selectors.invitations_of(self.tenant, status=status)[:200], status=status,
                       statuses=selectors.INVITATION_FILTERS)
        return context


class InvitationActionView(TenantConsoleMixin, View):
    section = "console:members"

    def post(self, request, slug, invitation_id, verb):
        invitation = get_object_or_404(selectors.invitations_of(self.tenant), pk=invitation_id)
        try:
            if verb == "resend":
                services.invitation_resend(invitation=invitation, actor=request.user, request=request)
                messages.success(request, f"A new invitation is on its way to {invitation.email}; the previous "
                                          "link no longer works.")
            else:
                services.invitation_revoke(invitation=invitation, actor=request.user, request=request)
                messages.success(request, f"The invitation of {invitation.email} was revoked.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect("console:invitations", slug=slug)


class MemberSessionsEndView(TenantConsoleMixin, View):
    """POST-only: ends a member's sessions that act at this tenant, and their tokens here."""

    section = "console:members"

    def post(self, request, slug, member_id):
        membership = get_object_or_404(Membership.objects.for_tenant(self.tenant).select_related("user"),
                                       pk=member_id)
        ended = services.member_sessions_end(tenant=self.tenant, user=membership.user, actor=request.user,
                                             request=request)
        messages.success(request, f"{membership.user.email}: {ended['sessions_ended']} session(s) ended, "
                                  f"{ended['tokens_revoked']} token(s) revoked.")
        return redirect("console:members", slug=slug)
