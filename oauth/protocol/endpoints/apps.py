"""The end user's "connected apps": every client they said yes to, per resource, revocable."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import ngettext
from django.views import View

from tenants.selectors import session_counts_at

from ...grants import services as grant_services
from ...grants.selectors import consents_of
from ...models import Consent
from .common import tenant_of


class ConnectedAppsView(View):
    http_method_names = ["get", "post"]

    def dispatch(self, request, *args, **kwargs):
        self.tenant = tenant_of(request)
        # A session opened through another tenant's identity provider is no sign-in here: that tenant's
        # administrators control their provider and must not reach this tenant's grants.
        if not session_counts_at(request.user, self.tenant):
            login = reverse("tenant-login", kwargs={"slug": self.tenant.slug})
            return redirect(f"{login}?{urlencode({'next': request.get_full_path()})}")
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        return render(request, "oauth/connected_apps.html", {"consents": consents_of(self.tenant, request.user)})

    def post(self, request, *args, consent_id=None, **kwargs):
        # Only the signed-in user's own consents of this tenant can be found, let alone revoked.
        consent = get_object_or_404(Consent.objects.for_tenant(self.tenant).select_related("application"),
                                    pk=consent_id, user=request.user)
        name = consent.application.name
        revoked = grant_services.consent_revoke(consent=consent, actor=request.user, request=request)
        messages.success(request, ngettext("%(name)s is disconnected; %(count)d token revoked.",
                                           "%(name)s is disconnected; %(count)d tokens revoked.", revoked)
                         % {"name": name, "count": revoked})
        return redirect("oauth-connected-apps", slug=self.tenant.slug)
