"""The authorization server's data: django-oauth-toolkit's models swapped so that every row carries its
tenant (ARCHITECTURE §3), plus consent, signing keys and the tenant's authorization settings.

DOT never sets ``tenant`` on rows it creates; each token-ish model derives it from its application in
``save()``. Tokens are stored as SHA-256 checksums only (DOT's COMPLIANT_BCP_RFC9700_TOKEN_STORAGE).
"""

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from oauth2_provider import models as dot

from kit import crypto
from kit.tenant_owned import TenantOfParentManager, TenantOwned, TenantScopedManager

OIDC_SCOPES = ("openid", "profile", "email")
# Scopes the authorization server itself understands; every other scope belongs to a resource.
PROTOCOL_SCOPES = OIDC_SCOPES + ("offline_access",)
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
ADMIN_AREAS = ("members", "clients", "tokens", "keys", "resources", "audit", "identity", "settings", "jobs")
ADMIN_SCOPES = tuple(s for area in ADMIN_AREAS for s in (f"admin:{area}", f"admin:{area}.read"))


def api_audience() -> str:
    """The platform's own REST API as a token audience (client_credentials with admin scopes only)."""
    return f"{settings.PUBLIC_URL}/api/v1"


class ClientStatus(models.TextChoices):
    APPROVED = "approved", "Approved"
    PENDING = "pending", "Pending approval"
    REJECTED = "rejected", "Rejected"
    SUSPENDED = "suspended", "Suspended"


class AuthMethod(models.TextChoices):
    NONE = "none", "None (public client, PKCE)"
    SECRET_BASIC = "client_secret_basic", "Client secret (HTTP Basic)"
    SECRET_POST = "client_secret_post", "Client secret (form body)"
    PRIVATE_KEY_JWT = "private_key_jwt", "Signed JWT (RFC 7523)"


class ApplicationManager(TenantScopedManager):
    def get_by_natural_key(self, client_id):
        return self.get(client_id=client_id)


class Application(TenantOwned, dot.AbstractApplication):
    """An OAuth client of one tenant. ``client_secret`` holds a keyed digest (kit.crypto), never
    the secret and never DOT's PBKDF2 hash (``hash_client_secret`` is always False)."""

    status = models.CharField(max_length=10, choices=ClientStatus.choices, default=ClientStatus.APPROVED)
    grant_types = models.CharField(
        max_length=200, default="authorization_code refresh_token",
        help_text="Space-separated grant types this client may use.")
    token_endpoint_auth_method = models.CharField(max_length=30, choices=AuthMethod.choices,
                                                  default=AuthMethod.NONE)
    allowed_resources = models.ManyToManyField("mcp_registry.MCPResource", blank=True, related_name="clients",
                                               through="ApplicationResource",
                                               help_text="MCP servers this client may get tokens for; none = none.")
    allowed_scopes = models.TextField(
        blank=True, help_text="Space-separated; empty allows every scope of the allowed resources. "
                              "Admin scopes (admin:<area>) must be listed here to be granted.")
    jwks = models.JSONField(null=True, blank=True, help_text="Public keys for private_key_jwt (a JWK Set).")
    jwks_uri = models.URLField(max_length=2000, blank=True)
    verified = models.BooleanField(default=False, help_text="The publisher's identity was checked by an admin.")
    client_uri = models.URLField(max_length=2000, blank=True)
    logo_uri = models.URLField(max_length=2000, blank=True)
    # Its tokens act with this role at most (tenants.authority): the role of the person or management
    # client that created it. Clients created by the platform itself (and before this was recorded) are
    # capped at admin; only an owner creates a client that may change owners.
    creator_role = models.CharField(max_length=10, default="admin",
                                    help_text="The creator's role: this client's tokens never act above it.")
    # A CIMD client's client_id URL: the name it goes by everywhere (tokens, introspection, audit, console,
    # API). ``client_id`` stays a platform id, unique across tenants, because each tenant has its own row.
    cimd_url = models.CharField(max_length=255, blank=True)
    token_endpoint_auth_methods = models.CharField(
        max_length=200, blank=True,
        help_text="Space-separated methods the client may use beyond token_endpoint_auth_method (a metadata "
                  "document listing private_key_jwt and none, SEP-3149).")

    objects = ApplicationManager()

    class Meta(dot.AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    def natural_key(self):
        return (self.client_id,)

    def save(self, *args, **kwargs):
        self.hash_client_secret = False  # the value is already a keyed digest
        super().save(*args, **kwargs)

    @property
    def public_client_id(self) -> str:
        """The client_id the client itself uses: its metadata document URL, else the platform id."""
        return self.cimd_url or self.client_id

    @property
    def auth_methods(self) -> frozenset:
        return frozenset({self.token_endpoint_auth_method, *self.token_endpoint_auth_methods.split()})

    @property
    def grant_type_list(self) -> list[str]:
        return self.grant_types.split()

    @property
    def allowed_scope_set(self) -> frozenset:
        return frozenset(self.allowed_scopes.split())

    @property
    def is_confidential(self) -> bool:
        return self.client_type == self.CLIENT_CONFIDENTIAL

    @property
    def is_self_registered(self) -> bool:
        """Registered by DCR or named by a metadata document URL: its MCP servers are a policy evaluated
        on each request (every active server that admits self-registered clients), not a frozen list."""
        return self.registration_source in (self.RegistrationSource.DCR, self.RegistrationSource.CIMD)

    def allows_grant_type(self, *grant_types):
        mapping = {self.GRANT_AUTHORIZATION_CODE: "authorization_code",
                   self.GRANT_CLIENT_CREDENTIALS: "client_credentials"}
        mine = set(self.grant_type_list)
        return any(mapping.get(g, g) in mine for g in grant_types)

    def get_allowed_schemes(self):
        # Redirects go only to schemes the client registered (https, loopback http, private-use).
        return sorted({uri.split(":", 1)[0] for uri in self.redirect_uris.split()} | {"https"})

    def is_usable(self, request):
        return self.status == ClientStatus.APPROVED

    @property
    def jwk_key(self):  # DOT's single-key signing is never used: the tenant's keys sign (oauth/signing/keys.py)
        raise NotImplementedError("tokens are signed with the tenant's signing key, see oauth.signing.keys")


class ApplicationResource(TenantOwned):
    """An MCP server a client may get tokens for: the many-to-many link, tenant-owned like the two rows it
    links (its table and columns are those of the implicit link table it replaced)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    mcpresource = models.ForeignKey("mcp_registry.MCPResource", on_delete=models.CASCADE)

    objects = TenantOfParentManager()
    tenant_from = "application"  # a link row added without a tenant gets its application's

    class Meta:
        db_table = "oauth_application_allowed_resources"
        unique_together = [("application", "mcpresource")]

    def __str__(self):
        return f"{self.application_id} may reach {self.mcpresource_id}"


class _TenantFromApplication(TenantOwned):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.tenant_id is None and self.application_id is not None:
            self.tenant_id = Application.objects.unscoped().values_list("tenant_id", flat=True).get(
                pk=self.application_id)
        super().save(*args, **kwargs)


class Grant(_TenantFromApplication, dot.AbstractGrant):
    """An authorization code: single use, 60 seconds, bound to client, redirect URI and PKCE challenge."""

    auth_time = models.DateTimeField(null=True, blank=True)
    # How /authorize chose the resource (oauth.protocol.targets.CHOSEN_BY); the token's audit event repeats it.
    resource_chosen_by = models.CharField(max_length=20, blank=True)
    # How the person signed in (kit.authn): the ID token's amr and acr.
    amr = models.JSONField(default=list, blank=True)
    acr = models.CharField(max_length=100, blank=True)

    class Meta(dot.AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class AccessToken(_TenantFromApplication, dot.AbstractAccessToken):
    """One row per issued JWT, keyed by its checksum and ``jti``: exact revocation and introspection."""

    jti = models.CharField(max_length=64, blank=True, db_index=True)
    audience = models.CharField(max_length=2000, blank=True, db_index=True)
    grant_type = models.CharField(max_length=40, blank=True)
    # sha256 of the authorization code the token descends from: a replayed code revokes them.
    code_checksum = models.CharField(max_length=64, blank=True, db_index=True)
    # The signing key's kid: key retirement waits for these tokens to expire; a compromised key revokes them.
    kid = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta(dot.AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"
        # The per-minute audit summary of machine tokens reads them by time (oauth/grants/summaries.py).
        indexes = [models.Index(fields=["created"], name="oauth_at_machine_created",
                                condition=models.Q(grant_type="client_credentials"))]

    @property
    def scope_list(self) -> list[str]:
        return self.scope.split()


class RefreshToken(_TenantFromApplication, dot.AbstractRefreshToken):
    audience = models.CharField(max_length=2000, blank=True, db_index=True)
    code_checksum = models.CharField(max_length=64, blank=True, db_index=True)
    resource_chosen_by = models.CharField(max_length=20, blank=True)  # as the authorization chose it (Grant)

    class Meta(dot.AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class IDToken(_TenantFromApplication, dot.AbstractIDToken):
    class Meta(dot.AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


class Consent(TenantOwned):
    """A user's remembered "yes" to a client for one resource and a set of scopes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_consents")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="consents")
    audience = models.CharField(max_length=2000, blank=True, help_text="The resource URI; empty for sign-in only.")
    scopes = models.TextField(help_text="Space-separated, sorted.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["user", "application", "audience"],
                                               name="consent_user_client_audience")]

    def __str__(self):
        return f"{self.user} -> {self.application} ({self.audience or 'sign-in'})"

    @property
    def scope_set(self) -> frozenset:
        return frozenset(self.scopes.split())


class KeyAlgorithm(models.TextChoices):
    RS256 = "RS256", "RS256 (RSA 2048)"
    ES256 = "ES256", "ES256 (P-256)"


class KeyState(models.TextChoices):
    NEXT = "next", "Next (published, not yet signing)"
    ACTIVE = "active", "Active (signs new tokens)"
    RETIRED = "retired", "Retired (published until its tokens expire)"
    REMOVED = "removed", "Removed"


class SigningKey(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kid = models.CharField(max_length=64, unique=True)
    alg = models.CharField(max_length=5, choices=KeyAlgorithm.choices, default=KeyAlgorithm.RS256)
    state = models.CharField(max_length=8, choices=KeyState.choices, default=KeyState.NEXT)
    # PEM (PKCS#8) encrypted with kit.crypto.encrypt(aad=b"signing-key:<kid>").
    private_key = models.TextField()
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant"], condition=models.Q(state="active"),
                                               name="signingkey_one_active_per_tenant")]

    def __str__(self):
        return f"{self.kid} ({self.alg}, {self.state})"


class TenantAuthSettings(TenantOwned):
    """Per-tenant knobs of the authorization server (the console's settings page edits them)."""

    access_token_lifetime = models.PositiveIntegerField(
        default=600, validators=[MinValueValidator(60), MaxValueValidator(24 * 3600)], help_text="Seconds.")
    refresh_token_lifetime = models.PositiveIntegerField(
        default=30 * 24 * 3600, validators=[MinValueValidator(300), MaxValueValidator(365 * 24 * 3600)],
        help_text="Seconds a refresh token stays usable after its access token expired.")
    signing_alg = models.CharField(max_length=5, choices=KeyAlgorithm.choices, default=KeyAlgorithm.RS256,
                                   help_text="Algorithm of newly created signing keys.")
    # RFC 8707 §2: the resource a request that names none gets when nothing else decides (oauth/protocol/targets.py).
    default_resource = models.ForeignKey(
        "mcp_registry.MCPResource", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The MCP server a token is for when the client names none and neither its scopes nor its "
                  "allowed servers decide.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant"], name="tenantauthsettings_tenant")]

    def __str__(self):
        return f"authorization settings of {self.tenant_id}"


class ClientAssertion(TenantOwned):
    """``jti`` values of private_key_jwt assertions seen, so an assertion is accepted once (RFC 7523 §3)."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE)
    jti = models.CharField(max_length=200)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["application", "jti"], name="clientassertion_jti")]


class RevocationMark(TenantOwned):
    """A bulk revocation in force: tokens of the tenant issued before ``issued_before`` that match every
    criterion set here are refused by every lookup (oauth.grants.selectors.not_revoked_by_mark), from the commit
    of the request on. The revocation job then deletes the rows and, with its last batch, this mark
    (oauth/grants/revocation.py). No criterion set (``everything``) covers the whole tenant."""

    # SET_NULL: losing the job-log row must not bring the tokens back.
    job = models.ForeignKey("jobs.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    issued_before = models.DateTimeField()
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="+")
    audience = models.CharField(max_length=2000, blank=True)
    kid = models.CharField(max_length=64, blank=True, help_text="Access tokens signed by this key only.")
    everything = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Looked up by tenant on every token lookup: the tenant foreign key's own index serves it.

    def __str__(self):
        return f"revocation mark of {self.tenant_id} before {self.issued_before:%Y-%m-%d %H:%M:%S}"


class TokenSummaryCursor(models.Model):
    """Up to when issued machine tokens are summarised in the audit log (oauth/grants/summaries.py). Platform-wide:
    one row per kind of summary, advanced in the same transaction as the events it vouches for."""

    key = models.CharField(max_length=40, primary_key=True)
    summarised_until = models.DateTimeField()

    def __str__(self):
        return f"{self.key} summarised until {self.summarised_until:%Y-%m-%d %H:%M}"


__all__ = ["Application", "Grant", "AccessToken", "RefreshToken", "IDToken", "Consent", "SigningKey",
           "TenantAuthSettings", "ClientAssertion", "RevocationMark", "TokenSummaryCursor"]

crypto.register("oauth.SigningKey", "private_key", aad=lambda row: b"signing-key:" + row.kid.encode())
