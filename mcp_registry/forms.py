from django import forms

from .models import HostingMode


class ResourceCreateForm(forms.Form):
    name = forms.SlugField(max_length=60,
                           help_text="Short name; gateway resources are served at /t/<tenant>/mcp/<name>.")
    display_name = forms.CharField(max_length=120, required=False)
    hosting_mode = forms.ChoiceField(choices=HostingMode.choices, initial=HostingMode.EXTERNAL)
    uri = forms.CharField(label="Resource URI", max_length=2000, required=False,
                          help_text="External servers: the MCP endpoint, e.g. https://mcp.example.com/mcp.")
    upstream_url = forms.CharField(label="Upstream URL", max_length=2000, required=False,
                                   help_text="Gateway resources: the unprotected streamable-HTTP MCP server.")
    scopes = forms.CharField(required=False, help_text="Space-separated scopes granted by default, e.g. tools:read")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    documentation_url = forms.URLField(max_length=2000, required=False, assume_scheme="https")


class ResourceUpdateForm(forms.Form):
    display_name = forms.CharField(max_length=120, required=False)
    uri = forms.CharField(label="Resource URI", max_length=2000, required=False)
    upstream_url = forms.CharField(label="Upstream URL", max_length=2000, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    documentation_url = forms.URLField(max_length=2000, required=False, assume_scheme="https")
    access_token_lifetime = forms.IntegerField(min_value=60, required=False,
                                               help_text="Seconds; empty uses the tenant's default.")
    admits_self_registered = forms.BooleanField(
        label="Admits self-registered clients", required=False,
        help_text="Clients that registered themselves (DCR or a Client ID Metadata Document) may ask for "
                  "tokens for this server, with each user's consent. Off: only clients allowed explicitly.")


class ScopeForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=300, required=False)
    granted_by_default = forms.BooleanField(required=False, initial=True)


class ToolForm(forms.Form):
    name = forms.CharField(max_length=128)
    description = forms.CharField(required=False)
    scopes = forms.CharField(help_text="Space-separated scopes a token needs to call the tool.")


class ManagementTokenForm(forms.Form):
    token = forms.CharField(required=False, widget=forms.PasswordInput,
                            help_text="Bearer token for listing the server's tools; empty clears it.")
