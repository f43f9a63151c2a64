from django import forms
from django.contrib.auth.forms import AuthenticationForm


class EmailSignInForm(AuthenticationForm):
    username = forms.EmailField(label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True,
                                                                              "autocomplete": "email"}))
    error_messages = {
        "invalid_login": "That e-mail and password do not match an account here. Check both and try again.",
        "inactive": "This account is disabled. Ask your administrator.",
    }


class TenantSignInForm(EmailSignInForm):
    """Signs in a member of the tenant in ``request.tenant``; other accounts are refused alike."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        tenant = self.request.tenant
        if not user.memberships.filter(tenant=tenant).exists():
            raise forms.ValidationError(
                f"{user.email} is not a member of {tenant.label}. Ask its administrator for access.",
                code="not_a_member")
