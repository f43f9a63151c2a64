from django import forms
from django.utils.translation import gettext_lazy as _

from . import passwords


class ForgotPasswordForm(forms.Form):
    email = forms.EmailField(label=_("E-mail"), max_length=254,
                             widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"}))


class NewPasswordForm(forms.Form):
    """A new password, typed twice, checked against the password rules (length, similarity, breached)."""

    password1 = forms.CharField(label=_("New password"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password", "autofocus": True}))
    password2 = forms.CharField(label=_("New password again"), strip=False,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            for problem in passwords.check(first, self.user):
                self.add_error("password1", problem)
        return cleaned
