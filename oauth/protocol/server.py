"""oauthlib's OpenID Connect server and DOT's Django adapter, made tenant-aware.

DOT builds one server per view class and shares it between all tenants, so nothing tenant-specific may
live on it: the validator reads the tenant from the ContextVar, the token lifetime is a callable of the
request, and the ``iss`` of authorization responses is the tenant's issuer (RFC 9207).
"""

from __future__ import annotations

from oauth2_provider.oauth2_backends import OAuthLibCore, _add_iss_to_redirect
from oauthlib.openid import Server

from kit.tenancy import get_current_tenant

from .tokens import access_token_lifetime


class TenantServer(Server):
    def __init__(self, request_validator, token_expires_in=None, token_generator=None,
                 refresh_token_generator=None, *args, **kwargs):
        super().__init__(request_validator, access_token_lifetime, token_generator, refresh_token_generator,
                         *args, **kwargs)
        # Decide the token's audience and scopes once client, code or refresh token are validated and
        # before the token is generated (the generator puts them in the JWT).
        for grant in (self.auth_grant, self.openid_connect_auth.proxy_target, self.refresh_grant.proxy_target,
                      self.credentials_grant):
            grant.custom_validators.post_token.append(request_validator.check_token_target)


class TenantOAuthLibCore(OAuthLibCore):
    def create_authorization_response(self, request, scopes, credentials, allow):
        uri, headers, body, status = super().create_authorization_response(request, scopes, credentials, allow)
        tenant = get_current_tenant()
        if uri is not None and tenant is not None:
            uri = _add_iss_to_redirect(uri, tenant.issuer)  # replaces DOT's single-issuer value
            headers["Location"] = uri
        return uri, headers, body, status

    def extract_body(self, request):
        # Only form bodies are parameters; anything else (JSON, garbage) is an empty form.
        if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
            return []
        return super().extract_body(request)
