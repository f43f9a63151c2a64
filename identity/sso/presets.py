"""What each well-known OpenID provider needs, so an administrator types one address instead of ten fields.

A preset turns the provider's "address" (its domain, directory id or realm URL) into a discovery URL, the
issuer to expect, the claim mapping and the flags that provider needs. docs/sso-presets.md explains each
quirk in prose; the comments here say why a field has the value it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.models import Preset


@dataclass(frozen=True)
class ProviderPreset:
    key: str
    address_label: str  # what the administrator types, e.g. "Okta domain"
    address_example: str
    discovery: str  # "{address}" is replaced
    issuer: str = ""  # "" = the discovery document's issuer
    scopes: str = "openid email profile"
    claims: dict = field(default_factory=dict)
    response_mode: str = "query"
    assume_email_verified: bool = False
    # Issuers that tokens may carry besides the canonical one (Google: without the scheme).
    issuer_aliases: tuple = ()
    # Claim that proves which organisation owns the account (Google Workspace: hd).
    domain_claim: str = ""
    notes: str = ""


_STANDARD_CLAIMS = {"subject": "sub", "email": "email", "email_verified": "email_verified", "name": "name",
                    "groups": "groups"}


def _claims(**overrides) -> dict:
    return {**_STANDARD_CLAIMS, **overrides}


PRESETS: dict[str, ProviderPreset] = {
    Preset.GENERIC: ProviderPreset(
        Preset.GENERIC, "Issuer URL", "https://idp.example.com", "{address}/.well-known/openid-configuration",
        claims=_claims()),
    # "common"/"organizations" make a multi-tenant app whose tokens carry the user's own directory in
    # `iss`; the {tenantid} template is checked against the token's `tid` and the allowed directories.
    # Entra's `email` is not verified unless the optional claim xms_edov says the domain owner vouches.
    Preset.ENTRA: ProviderPreset(
        Preset.ENTRA, "Directory (tenant) id, or organizations", "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "https://login.microsoftonline.com/{address}/v2.0/.well-known/openid-configuration",
        issuer="https://login.microsoftonline.com/{tenantid}/v2.0",
        claims=_claims(email_verified="xms_edov", groups="roles"),
        notes="Map app roles (the `roles` claim) rather than groups: group claims switch to an overage "
              "link above 200 groups. Add the optional claims `email` and `xms_edov`."),
    Preset.OKTA: ProviderPreset(
        Preset.OKTA, "Okta domain (with /oauth2/<server> for a custom authorization server)",
        "acme.okta.com", "https://{address}/.well-known/openid-configuration",
        scopes="openid email profile groups", claims=_claims(),
        notes="Add a `groups` claim (filter: matches regex .*) to the app's ID token."),
    Preset.AUTH0: ProviderPreset(
        Preset.AUTH0, "Auth0 domain", "acme.eu.auth0.com", "https://{address}/.well-known/openid-configuration",
        issuer="https://{address}/", claims=_claims(groups="https://mcp-platform/groups"),
        notes="Auth0's issuer ends with a slash. Groups come from an Action that sets a namespaced claim."),
    Preset.ONELOGIN: ProviderPreset(
        Preset.ONELOGIN, "OneLogin subdomain", "acme",
        "https://{address}.onelogin.com/oidc/2/.well-known/openid-configuration",
        scopes="openid email profile groups", claims=_claims(),
        notes="Set the app's `groups` parameter to include the user's roles or groups."),
    Preset.GOOGLE: ProviderPreset(
        Preset.GOOGLE, "Workspace domain (empty: any Google account)", "acme.com",
        "https://accounts.google.com/.well-known/openid-configuration", issuer="https://accounts.google.com",
        claims=_claims(groups=""), issuer_aliases=("accounts.google.com",), domain_claim="hd",
        notes="Google has no group claim; roles come from the default role. With a Workspace domain "
              "only accounts whose `hd` claim is that domain may sign in."),
    # Apple posts the response (form_post) and sends email_verified as the string "true". Users who hide
    # their address get a relay address @privaterelay.appleid.com, which domain lists must allow.
    Preset.APPLE: ProviderPreset(
        Preset.APPLE, "(none)", "", "https://appleid.apple.com/.well-known/openid-configuration",
        issuer="https://appleid.apple.com", scopes="openid email name", response_mode="form_post",
        claims=_claims(name="", groups=""),
        notes="Apple's client secret is a JWT you sign with your .p8 key (valid up to six months): paste it "
              "as the client secret and renew it before it expires."),
    Preset.KEYCLOAK: ProviderPreset(
        Preset.KEYCLOAK, "Realm URL", "https://sso.example.com/realms/acme",
        "{address}/.well-known/openid-configuration", claims=_claims(),
        notes="Add a 'Group Membership' mapper (claim `groups`, full group path off) to the client."),
}

# Named so nobody half-builds them: these sign in with plain OAuth 2.0 and no ID token.
UNSUPPORTED = {
    "meta": "Facebook / Meta Login (OAuth 2.0 without OpenID Connect on the web)",
    "github": "GitHub (OAuth 2.0 only)",
    "x": "X / Twitter (OAuth 2.0 only)",
}


def preset_for(key: str) -> ProviderPreset:
    return PRESETS.get(key) or PRESETS[Preset.GENERIC]


def preset_settings(key: str, address: str) -> dict:
    """The IdentityProvider fields a preset fills from the provider's address."""
    preset = preset_for(key)
    address = (address or "").strip().rstrip("/")
    if key == Preset.GENERIC or key == Preset.KEYCLOAK:
        discovery = preset.discovery.format(address=address)
    else:
        discovery = preset.discovery.format(address=address.removeprefix("https://"))
    issuer = preset.issuer.replace("{address}", address.removeprefix("https://"))
    if key == Preset.ENTRA and address and address not in ("common", "organizations", "consumers"):
        issuer = preset.issuer.replace("{tenantid}", address)  # single-tenant app: one fixed issuer
    claims = preset.claims
    values = {
        "discovery_url": discovery,
        "issuer": issuer,
        "scopes": preset.scopes,
        "response_mode": preset.response_mode,
        "assume_email_verified": preset.assume_email_verified,
        "claim_subject": claims["subject"],
        "claim_email": claims["email"],
        "claim_email_verified": claims["email_verified"],
        "claim_name": claims["name"],
        "claim_groups": claims["groups"],
    }
    if key == Preset.GOOGLE and address:
        values["domains"] = [address.lower()]
    return values
