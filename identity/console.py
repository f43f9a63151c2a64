"""Console pages for single sign-on: the tenant's identity providers, their test results and identities."""

from __future__ import annotations

import uuid

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.views import View
from django.views.generic import TemplateView

from kit.errors import ApplicationError, add_to_form
from kit.stepup import StepUpMixin
from tenants.console import TenantConsoleMixin

from . import selectors, services
from .forms import IdentityProviderCreateForm, IdentityProviderForm
from .models import FederatedIdentity, IdentityProvider
from .sso.presets import PRESETS, UNSUPPORTED
from .views import begin_sign_in, provider_urls, sso_redirect_uri


def _form_values(form) -> dict:
    values = {name: form.cleaned_data[name] for name in form.changed_data if name in form.cleaned_data}
    values.pop("client_secret", None)
    return values


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


class SSOView(TenantConsoleMixin, StepUpMixin, TemplateView):
    template_name = "identity/console/sso.html"
    section = "console:sso"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(providers=selectors.identity_providers_of(self.tenant),
                       form=kwargs.get("form") or IdentityProviderCreateForm(),
                       presets=PRESETS.values(), unsupported=UNSUPPORTED.values())
        return context

    def post(self, request, slug):
        form = IdentityProviderCreateForm(request.POST)
        if form.is_valid():
            data = dict(form.cleaned_data)
            try:
                idp = services.identity_provider_create(
                    tenant=self.tenant, actor=request.user, request=request, name=data.pop("name"),
                    slug=data.pop("slug"), preset=data.pop("preset"), address=data.pop("address"),
                    client_secret=data.pop("client_secret"), **{k: v for k, v in data.items() if v not in ("", None)})
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, f"{idp.name} added. Register {sso_redirect_uri(idp)} as its redirect URI, "
                                 "then test the connection.")
                return redirect("console:sso-provider", slug=slug, idp_id=idp.pk)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class _ProviderMixin(TenantConsoleMixin, StepUpMixin):
    section = "console:sso"

    def get_provider(self) -> IdentityProvider:
        return get_object_or_404(IdentityProvider.objects.for_tenant(self.tenant), pk=self.kwargs["idp_id"])


class IdentityProviderView(_ProviderMixin, TemplateView):
    template_name = "identity/console/provider.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        idp = kwargs.get("idp") or self.get_provider()
        context.update(
            idp=idp, form=kwargs.get("form") or IdentityProviderForm(instance=idp), urls=provider_urls(idp),
            identities=selectors.federated_identities_of(self.tenant, identity_provider=idp)[:200],
            preset=PRESETS.get(idp.preset),
        )
        return context

    def post(self, request, slug, idp_id):
        idp = self.get_provider()
        form = IdentityProviderForm(request.POST, instance=IdentityProvider.objects.for_tenant(self.tenant).get(
            pk=idp.pk))
        if form.is_valid():
            try:
                services.identity_provider_update(identity_provider=idp, actor=request.user, request=request,
                                                  client_secret=form.cleaned_data.get("client_secret") or None,
                                                  **_form_values(form))
            except ApplicationError as exc:
                add_to_form(form, exc)
            else:
                messages.success(request, f"{idp.name} saved.")
                return redirect("console:sso-provider", slug=slug, idp_id=idp.pk)
        return self.render_to_response(self.get_context_data(form=form, idp=idp), status=400)


class IdentityProviderActionView(_ProviderMixin, View):
    """POST-only: test the connection, start a test sign-in, enable, disable, unlink an identity."""

    def post(self, request, slug, idp_id, verb):
        idp = self.get_provider()
        back = redirect("console:sso-provider", slug=slug, idp_id=idp.pk)
        if verb == "test-connection":
            idp = services.identity_provider_test_connection(identity_provider=idp, actor=request.user,
                                                             request=request)
            (messages.success if idp.last_test.get("ok") else messages.error)(
                request, "Connection works." if idp.last_test.get("ok") else f"{idp.name} {idp.last_test['error']}")
        elif verb == "test-sign-in":
            return begin_sign_in(request, idp, test=True)
        elif verb in ("enable", "disable"):
            services.identity_provider_set_enabled(identity_provider=idp, enabled=verb == "enable",
                                                   actor=request.user, request=request)
            messages.success(request, f"{idp.name} {verb}d.")
        elif verb == "unlink":
            identity = FederatedIdentity.objects.for_tenant(self.tenant).filter(
                identity_provider=idp, pk=_uuid_or_none(request.POST.get("identity_id"))).first()
            if identity is None:
                raise Http404("no such federated identity at this provider")
            services.federated_identity_unlink(identity=identity, actor=request.user, request=request)
            messages.success(request, f"{identity.email or identity.subject} unlinked from {idp.name}.")
        else:
            messages.error(request, f"unknown action '{verb[:40]}'")
        return back
