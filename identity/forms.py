from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from tenants.models import Role

from . import selectors
from .models import MAPPABLE_ROLES, ClientAuthMethod, IdentityProvider, Preset


class EmailSignInForm(AuthenticationForm):
    username = forms.EmailField(label=_("E-mail"), widget=forms.EmailInput(attrs={"autofocus": True,
                                                                              "autocomplete": "email"}))
    error_messages = {
        "invalid_login": _("That e-mail and password do not match an account here. Check both and try again."),
        "inactive": _("This account is disabled. Ask your administrator."),
    }

    def clean(self):
        # The password first: the SSO hint names the person's organisations, so only someone who knows the
        # account's password may see it; to anyone else every address answers "do not match" alike.
        cleaned = super().clean()
        required = selectors.console_sso_requirement(self.get_user())
        if required:
            links = ", ".join(reverse("tenant-login", kwargs={"slug": idp.tenant.slug}) for idp in required)
            raise forms.ValidationError(
                gettext("Your organisation signs you in through %(provider)s: sign in at %(links)s, then open "
                        "the console.") % {"provider": required[0].name, "links": links}, code="sso_required")
        return cleaned


class TenantSignInForm(EmailSignInForm):
    """Signs in a member of the tenant in ``request.tenant``; other accounts are refused alike.

    The password is optional on the form because the same form starts single sign-on: an address whose
    domain belongs to a provider goes there (see TenantSignInView).
    """

    password = forms.CharField(label=_("Password"), required=False, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def clean(self):
        tenant = self.request.tenant
        email = self.cleaned_data.get("username", "")
        idp = selectors.sso_required_for(tenant, email)
        if idp is not None:
            raise forms.ValidationError(
                gettext("%(tenant)s signs in %(domain)s addresses through %(provider)s; use the button below.")
                % {"tenant": tenant.label, "domain": email.rsplit("@", 1)[-1], "provider": idp.name},
                code="sso_required")
        if not self.cleaned_data.get("password"):
            raise forms.ValidationError(gettext("Enter your password."), code="password_missing")
        return super(EmailSignInForm, self).clean()

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        tenant = self.request.tenant
        if not user.memberships.filter(tenant=tenant).exists():
            raise forms.ValidationError(
                gettext("%(email)s is not a member of %(tenant)s. Ask its administrator for access.")
                % {"email": user.email, "tenant": tenant.label}, code="not_a_member")


# --- Console: identity providers ------------------------------------------------------------------------

class GroupRolesField(forms.CharField):
    """{"group": "role"} shown and typed as "group = role" lines."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "mcp-admins = admin\nauditors = auditor"})

    def prepare_value(self, value):
        if isinstance(value, dict):
            return "\n".join(f"{group} = {role}" for group, role in value.items())
        return value


class ListField(forms.CharField):
    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list | tuple) else value


class IdentityProviderForm(forms.ModelForm):
    """Shared by create and edit; the services validate and normalise (domains, mapping, issuer rules)."""

    discovery_url = forms.URLField(assume_scheme="https", required=False, max_length=500,
                                   help_text="Filled from the preset and address when left empty.")
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Stored encrypted. Leave empty to keep the current one.")
    domains = ListField(required=False, help_text="E-mail domains this provider owns, comma-separated.")
    allowed_tenant_ids = ListField(required=False, label="Allowed directories (Entra ID multi-tenant)")
    group_roles = GroupRolesField(required=False, label="Group -> role mapping")
    default_role = forms.ChoiceField(choices=[(r.value, r.label) for r in MAPPABLE_ROLES], initial=Role.MEMBER)

    class Meta:
        model = IdentityProvider
        fields = ["name", "discovery_url", "issuer", "client_id", "client_secret", "client_auth_method", "scopes",
                  "response_mode", "domains", "sso_required", "jit_provisioning", "default_role", "group_roles",
                  "claim_subject", "claim_email", "claim_email_verified", "claim_name", "claim_groups",
                  "assume_email_verified", "use_userinfo", "allowed_tenant_ids", "enabled"]
        labels = {"sso_required": "Require SSO for these domains (refuse their passwords)",
                  "jit_provisioning": "Create members on first sign-in (JIT)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("issuer", "scopes", "claim_subject", "claim_email"):
            self.fields[name].required = False

    def validate_unique(self):
        pass  # the service reports duplicates with its own message

    def _post_clean(self):
        pass  # the service validates the whole provider (secret rules, URLs, issuer template)


class IdentityProviderCreateForm(IdentityProviderForm):
    preset = forms.ChoiceField(choices=Preset.choices, initial=Preset.GENERIC)
    address = forms.CharField(required=False, label="Provider address",
                              help_text="Issuer URL, Okta or Auth0 domain, Entra directory id, Keycloak realm "
                                        "URL: the preset builds the discovery URL from it.")
    slug = forms.SlugField(max_length=40, help_text="Part of the redirect URI: /t/<tenant>/sso/<slug>/callback")

    field_order = ["preset", "name", "slug", "address"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["client_auth_method"].initial = ClientAuthMethod.CLIENT_SECRET_BASIC
