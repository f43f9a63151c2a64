from django import forms

from .models import Role, Tenant


class TenantCreateForm(forms.ModelForm):
    owner_email = forms.EmailField(label="First owner's e-mail", required=False,
                                   help_text="They are sent an invitation to set a password or sign in with SSO.")

    class Meta:
        model = Tenant
        fields = ["slug", "name", "display_name", "accent_color"]
        help_texts = {"slug": "Part of the issuer URL: /t/<slug>. Lower-case letters, digits, hyphens."}

    def validate_unique(self):
        pass  # the service reports a duplicate slug with its own message


class TenantBrandingForm(forms.ModelForm):
    logo_url = forms.URLField(assume_scheme="https", required=False, label="Logo URL (https)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["default_language"].required = False  # a post without it keeps the language

    def clean_default_language(self):
        return self.cleaned_data.get("default_language") or self.instance.default_language

    class Meta:
        model = Tenant
        fields = ["name", "display_name", "logo_url", "accent_color", "default_language", "custom_domain"]
        labels = {"default_language": "Default language of the sign-in and consent pages"}
        help_texts = {"default_language": "Used when the application (ui_locales) and the browser (Accept-Language) "
                                          "name no language the platform speaks."}


class MemberAddForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class SuspendForm(forms.Form):
    reason = forms.CharField(max_length=300)
