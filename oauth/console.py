"""Console pages of the authorization server: clients, tokens and grants, signing keys, settings.

Pages resolve the tenant through ``TenantConsoleMixin`` (another tenant's slug or object id is a 404;
auditors read, owners and admins write) and change things only through the services of oauth's sub-packages. A client
secret appears once, in the page that answers the request that generated it; it is never put in the
session or a redirect.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, path, re_path, reverse
from django.views import View
from django.views.generic import TemplateView

from kit.errors import ApplicationError, add_to_form
from kit.stepup import StepUpMixin
from mcp_registry import selectors as registry
from tenants.authority import Authority
from tenants.console import TenantConsoleMixin
from tenants.selectors import member_by_email

from .clients import selectors as client_selectors
from .clients import services as client_services
from .config import selectors as config_selectors
from .config import services as config_services
from .grants import selectors as grant_selectors
from .grants import services as grant_services
from .models import ADMIN_SCOPES, GRANT_TYPES, Application, KeyAlgorithm, KeyState, TenantAuthSettings, api_audience
from .signing import rotation
from .signing import selectors as signing_selectors
from .signing import services as signing_services

# --- forms ----------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [part for part in (text or "").replace(",", " ").split() if part]


class _ClientFields(forms.Form):
    """What an admin sets on a client; the service checks the combinations and explains refusals."""

    name = forms.CharField(max_length=255, help_text="Shown to people on the consent page.")
    grant_types = forms.MultipleChoiceField(
        choices=[(g, g) for g in GRANT_TYPES], widget=forms.CheckboxSelectMultiple,
        help_text="MCP clients acting for people: authorization_code + refresh_token. Agents and management "
                  "clients for the REST API: client_credentials.")
    redirect_uris = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One per line; https, or http on 127.0.0.1/localhost (any port, RFC 8252).")
    resources = forms.ModelMultipleChoiceField(queryset=None, required=False,
                                               widget=forms.CheckboxSelectMultiple,
                                               help_text="MCP servers this client may get tokens for.")
    scopes = forms.CharField(required=False, help_text="Space-separated resource scopes it may ask for; empty "
                                                       "allows every scope of its resources.")
    admin_scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in ADMIN_SCOPES], required=False, widget=forms.CheckboxSelectMultiple,
        help_text="Management clients (client_credentials): what its tokens may do in the REST API.")

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["resources"].queryset = registry.tenant_resources(tenant)

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {"name": data["name"], "grant_types": data["grant_types"],
                "redirect_uris": _lines(data["redirect_uris"]), "allowed_resources": list(data["resources"]),
                "scopes": _lines(data["scopes"]) + list(data["admin_scopes"])}


class ClientCreateForm(_ClientFields):
    client_type = forms.ChoiceField(
        choices=[(Application.CLIENT_PUBLIC, "Public (desktop, CLI or browser app; PKCE, no secret)"),
                 (Application.CLIENT_CONFIDENTIAL, "Confidential (server or agent; gets a secret)")])
    field_order = ["name", "client_type", "grant_types"]


class ClientUpdateForm(_ClientFields):
    verified = forms.BooleanField(required=False, help_text="You checked who publishes this client: the consent "
                                                            "page says so instead of 'unverified'.")

    @classmethod
    def for_client(cls, client, tenant):
        scopes = client.allowed_scopes.split()
        return cls(tenant=tenant, initial={
            "name": client.name, "grant_types": client.grant_type_list, "redirect_uris": "\n".join(
                client.redirect_uris.split()), "resources": list(client.allowed_resources.all()),
            "scopes": " ".join(s for s in scopes if s not in ADMIN_SCOPES),
            "admin_scopes": [s for s in scopes if s in ADMIN_SCOPES], "verified": client.verified})

    def service_kwargs(self) -> dict:
        return {**super().service_kwargs(), "verified": self.cleaned_data["verified"]}


class AuthSettingsForm(forms.ModelForm):
    class Meta:
        model = TenantAuthSettings
        fields = ["access_token_lifetime", "refresh_token_lifetime", "signing_alg", "default_resource"]

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["default_resource"]
        field.queryset = registry.active_resources(tenant)
        field.empty_label = "None: a request must name its resource"
        field.label_from_instance = lambda r: f"{r} ({r.uri})"


# The services' name for the form's "resources" field.
_FORM_FIELDS = {"allowed_resources": "resources"}


# --- clients --------------------------------------------------------------------------------------

class _ClientPages(TenantConsoleMixin, TemplateView):
    section = "console:clients"

    def get_client(self, client_pk):
        client = client_selectors.clients_of(self.tenant).filter(pk=client_pk).first()
        if client is None:
            raise Http404("no such client in this tenant")
        return client

    def client_page(self, client, *, secret: str | None = None, form=None, status: int = 200, created=False):
        """One client: settings, edit form, actions. A new secret is shown here once, never stored or
        redirected with; the page is then kept out of every cache."""
        context = TenantConsoleMixin.get_context_data(self)
        context.update(client=client, secret=secret, created=created,
                       form=form or ClientUpdateForm.for_client(client, self.tenant),
                       token_count=grant_selectors.tokens_of(self.tenant, client=client).count(),
                       token_url=f"{self.tenant.issuer}/token", api_audience=api_audience(),
                       admin_scopes=[s for s in client.allowed_scopes.split() if s in ADMIN_SCOPES])
        response = render(self.request, "oauth/console/client.html", context, status=status)
        if secret:
            response["Cache-Control"] = "no-store"
        return response


class ClientsView(_ClientPages):
    template_name = "oauth/console/clients.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        q, status = self.request.GET.get("q", ""), self.request.GET.get("status", "")
        context.update(clients=client_selectors.clients_of(self.tenant, search=q, status=status), q=q, status=status,
                       form=kwargs.get("form") or ClientCreateForm(tenant=self.tenant, initial={
                           "grant_types": ["authorization_code", "refresh_token"]}),
                       registrations_url=_optional_url("console:registrations", self.tenant.slug))
        return context

    def post(self, request, slug):
        form = ClientCreateForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            try:
                client, secret = client_services.client_create(tenant=self.tenant, actor=request.user, request=request,
                                                               authority=Authority.of(self.membership),
                                                               client_type=form.cleaned_data["client_type"],
                                                               **form.service_kwargs())
            except ApplicationError as exc:
                add_to_form(form, exc, _FORM_FIELDS)
            else:
                return self.client_page(self.get_client(client.pk), secret=secret, status=201, created=True)
        return self.render_to_response(self.get_context_data(form=form), status=400)


class ClientDetailView(_ClientPages):
    def get(self, request, slug, client_pk):
        return self.client_page(self.get_client(client_pk))

    def post(self, request, slug, client_pk):
        client = self.get_client(client_pk)
        form = ClientUpdateForm(request.POST, tenant=self.tenant)
        if form.is_valid():
            try:
                client_services.client_update(client=client, actor=request.user, request=request,
                                              authority=Authority.of(self.membership), **form.service_kwargs())
            except ApplicationError as exc:
                add_to_form(form, exc, _FORM_FIELDS)
            else:
                messages.success(request, f"Client '{client.name}' saved.")
                return redirect("console:client", slug=slug, client_pk=client.pk)
        return self.client_page(client, form=form, status=400)


class ClientActionView(_ClientPages):
    """POST-only: rotate-secret (answers with the new secret, once), suspend, reactivate, delete."""

    http_method_names = ["post"]

    def post(self, request, slug, client_pk, verb):
        client = self.get_client(client_pk)
        authority = Authority.of(self.membership)
        try:
            if verb == "rotate-secret":
                secret = client_services.client_rotate_secret(client=client, actor=request.user, request=request,
                                                              authority=authority)
                return self.client_page(client, secret=secret)
            if verb == "suspend":
                client_services.client_suspend(client=client, actor=request.user, request=request,
                                               reason=request.POST.get("reason", ""), authority=authority)
                messages.success(request, f"'{client.name}' is suspended and its tokens are revoked.")
            elif verb == "reactivate":
                client_services.client_reactivate(client=client, actor=request.user, request=request,
                                                  authority=authority)
                messages.success(request, f"'{client.name}' can get tokens again.")
            elif verb == "delete":
                client_services.client_delete(client=client, actor=request.user, request=request, authority=authority)
                messages.success(request, f"'{client.name}' and its tokens are deleted.")
                return redirect("console:clients", slug=slug)
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:client", slug=slug, client_pk=client.pk)


# --- tokens and grants ----------------------------------------------------------------------------

def _token_filters(tenant, source) -> dict:
    """user (e-mail), client (client id) and resource (URI) from a query or form; an unknown client is a 404."""
    client = None
    if source.get("client"):
        client = client_selectors.client_by_id(tenant, source["client"])
        if client is None:
            raise Http404("no such client in this tenant")
    return {"client": client, "user_email": source.get("user", "").strip(),
            "audience": source.get("resource", "").strip()}


class TokensView(TenantConsoleMixin, TemplateView):
    """Live access tokens and remembered grants, searchable by user, client and resource."""

    template_name = "oauth/console/tokens.html"
    section = "console:tokens"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        found = _token_filters(self.tenant, self.request.GET)
        tokens = grant_selectors.tokens_of(self.tenant, client=found["client"], audience=found["audience"])
        if found["user_email"]:
            tokens = tokens.filter(user__email__iexact=found["user_email"])
        context.update(
            tokens=tokens[:200], grants=grant_selectors.grants_of(self.tenant, **found)[:200],
            clients=client_selectors.clients_of(self.tenant), resources=registry.tenant_resources(self.tenant),
            query={"user": found["user_email"], "client": found["client"].public_client_id if found["client"] else "",
                   "resource": found["audience"]},
            filtered=any(found.values()))
        return context


class TokenActionView(TenantConsoleMixin, View):
    """POST-only: revoke one token, one grant, or every token matching the search."""

    section = "console:tokens"

    def post(self, request, slug, verb):
        try:
            if verb == "revoke-token":
                row = grant_selectors.tokens_of(self.tenant).filter(pk=_int_or_none(request.POST.get("id"))).first()
                if row is None:
                    raise Http404("no such token in this tenant (it may have expired)")
                grant_services.token_revoke(token_row=row, actor=request.user, request=request)
                messages.success(request, "Token revoked.")
            elif verb == "revoke-grant":
                consent = (grant_selectors.grants_of(self.tenant)
                           .filter(pk=_uuid_or_none(request.POST.get("id"))).first())
                if consent is None:
                    raise Http404("no such grant in this tenant")
                revoked = grant_services.consent_revoke(consent=consent, actor=request.user, request=request)
                messages.success(request, f"Grant revoked with {revoked} token(s).")
            else:
                found = _token_filters(self.tenant, request.POST)
                user = None
                if found["user_email"]:
                    user = member_by_email(self.tenant, found["user_email"])
                    if user is None:
                        messages.info(request, f"No tokens of {found['user_email']}.")
                        return redirect("console:tokens", slug=slug)
                revoked = grant_services.tokens_revoke_for(tenant=self.tenant, client=found["client"], user=user,
                                                           resource=found["audience"] or None, actor=request.user,
                                                           request=request)
                messages.success(request, f"{revoked} token(s) revoked.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        return redirect("console:tokens", slug=slug)


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _uuid_or_none(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- keys and settings ----------------------------------------------------------------------------

class KeysView(TenantConsoleMixin, StepUpMixin, TemplateView):
    template_name = "oauth/console/keys.html"
    section = "console:keys"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        active = rotation.active_key_of(self.tenant)
        context.update(keys=signing_selectors.signing_keys_of(self.tenant), algorithms=KeyAlgorithm.choices,
                       active_kid=active.kid if active else "",
                       default_alg=config_selectors.tenant_settings(self.tenant).signing_alg,
                       jwks_url=f"{self.tenant.issuer}/jwks.json", retired=KeyState.RETIRED,
                       rotation_url=_optional_url("console:key-rotation", self.tenant.slug))
        return context

    def post(self, request, slug):
        """Rotate now, or take a retired key out of the JWKS."""
        try:
            if "remove" in request.POST:
                key = signing_selectors.signing_keys_of(self.tenant).filter(kid=request.POST["remove"]).first()
                if key is None:
                    raise Http404("no such key in this tenant")
                signing_services.key_remove(key=key, actor=request.user, request=request)
                messages.success(request, f"Key {key.kid} left the JWKS; tokens it signed no longer verify.")
            else:
                alg = request.POST.get("alg") or None
                if alg is not None and alg not in KeyAlgorithm.values:
                    raise ApplicationError(f"algorithm must be one of {', '.join(KeyAlgorithm.values)}")
                key = rotation.key_rotate_now(tenant=self.tenant, actor=request.user, request=request, alg=alg,
                                              expected_kid=request.POST.get("expected_kid") or None)
                if key is None:
                    messages.info(request, "The keys were rotated by another request meanwhile; nothing more "
                                           "was rotated.")
                else:
                    messages.success(request, f"Rotated: {key.kid} ({key.alg}) signs new tokens; the previous key "
                                              "stays published until its tokens expire.")
        except ApplicationError as exc:
            messages.error(request, str(exc))
        # The key-rotation page's "Rotate now" posts here too and goes back where it came from.
        back = "console:key-rotation" if request.POST.get("back") == "key-rotation" else "console:keys"
        return redirect(back, slug=slug)


class AuthSettingsView(TenantConsoleMixin, TemplateView):
    template_name = "oauth/console/settings.html"
    section = "console:settings"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(form=kwargs.get("form") or AuthSettingsForm(instance=config_services.tenant_auth_settings(
            self.tenant), tenant=self.tenant), issuer=self.tenant.issuer)
        return context

    def post(self, request, slug):
        current = config_services.tenant_auth_settings(self.tenant)
        form = AuthSettingsForm(request.POST, tenant=self.tenant, instance=TenantAuthSettings(
            tenant=self.tenant, access_token_lifetime=current.access_token_lifetime,
            refresh_token_lifetime=current.refresh_token_lifetime, signing_alg=current.signing_alg,
            default_resource_id=current.default_resource_id))
        if form.is_valid():
            try:
                config_services.tenant_auth_settings_update(tenant=self.tenant, actor=request.user, request=request,
                                                            **{f: form.cleaned_data[f] for f in form.changed_data})
            except ApplicationError as exc:
                add_to_form(form, exc, _FORM_FIELDS)
            else:
                messages.success(request, "Authorization settings saved.")
                return redirect("console:auth-settings", slug=slug)
        return self.render_to_response(self.get_context_data(form=form), status=400)


def _optional_url(name: str, slug: str) -> str | None:
    """A page another part of the platform may provide (e.g. the approval queue)."""
    try:
        return reverse(name, kwargs={"slug": slug})
    except NoReverseMatch:
        return None


console_urlpatterns = [
    path("<str:slug>/clients/", ClientsView.as_view(), name="clients"),
    path("<str:slug>/clients/<int:client_pk>/", ClientDetailView.as_view(), name="client"),
    re_path(r"^(?P<slug>[^/]+)/clients/(?P<client_pk>[0-9]+)/(?P<verb>rotate-secret|suspend|reactivate|delete)$",
            ClientActionView.as_view(), name="client-action"),
    path("<str:slug>/tokens/", TokensView.as_view(), name="tokens"),
    re_path(r"^(?P<slug>[^/]+)/tokens/(?P<verb>revoke-token|revoke-grant|revoke-matching)$",
            TokenActionView.as_view(), name="token-action"),
    path("<str:slug>/keys/", KeysView.as_view(), name="keys"),
    path("<str:slug>/authorization/", AuthSettingsView.as_view(), name="auth-settings"),
]
