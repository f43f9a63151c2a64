import uuid

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone

from kit import crypto
from kit.tenant_owned import TenantOwned
from tenants.models import Role, Tenant


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("users sign in by e-mail: an address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)  # None gives an unusable password (SSO-only or not yet set)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Platform-wide, so one person can belong to several tenants (memberships)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Platform operator: manages every tenant.")
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name or self.email.split("@")[0]


# --- Single sign-on through a tenant's own OpenID provider (ARCHITECTURE §8) ----------------------------

class Preset(models.TextChoices):
    GENERIC = "generic", "Generic OpenID Connect"
    ENTRA = "entra", "Microsoft Entra ID"
    OKTA = "okta", "Okta"
    AUTH0 = "auth0", "Auth0"
    ONELOGIN = "onelogin", "OneLogin"
    GOOGLE = "google", "Google Workspace / Google accounts"
    APPLE = "apple", "Sign in with Apple"
    KEYCLOAK = "keycloak", "Keycloak"


class ClientAuthMethod(models.TextChoices):
    CLIENT_SECRET_BASIC = "client_secret_basic", "Client secret (HTTP Basic)"
    CLIENT_SECRET_POST = "client_secret_post", "Client secret (form post)"
    PRIVATE_KEY_JWT = "private_key_jwt", "Private key JWT (RFC 7523)"


# Roles an IdP may hand out. Ownership is granted by a person, never by a group claim.
MAPPABLE_ROLES = (Role.ADMIN, Role.AUDITOR, Role.MEMBER)
ROLE_RANK = {Role.MEMBER: 0, Role.AUDITOR: 1, Role.ADMIN: 2}


def _default_scopes() -> str:
    return "openid email profile"


class IdentityProvider(TenantOwned):
    """An upstream OpenID provider through which the tenant's people sign in.

    ``domains`` are the e-mail domains the provider owns: home-realm discovery routes them to it, only
    addresses in them may sign in through it (empty: any), and with ``sso_required`` their password
    sign-in is refused at this tenant.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=40)
    preset = models.CharField(max_length=12, choices=Preset.choices, default=Preset.GENERIC)
    discovery_url = models.URLField(max_length=500, help_text="The provider's OpenID configuration document.")
    issuer = models.CharField(max_length=500, help_text="Expected `iss`; Entra ID multi-tenant: with {tenantid}.")
    client_id = models.CharField(max_length=255)
    client_auth_method = models.CharField(max_length=24, choices=ClientAuthMethod.choices,
                                          default=ClientAuthMethod.CLIENT_SECRET_BASIC)
    # AES-GCM under the platform KEK, bound to this row (see client_secret_aad).
    client_secret_encrypted = models.TextField(blank=True)
    # private_key_jwt: the platform's key pair for this provider, published at the provider's jwks URL.
    private_key_encrypted = models.TextField(blank=True)
    private_key_id = models.CharField(max_length=64, blank=True)
    scopes = models.CharField(max_length=300, default=_default_scopes)
    response_mode = models.CharField(max_length=12, default="query", choices=[("query", "query"),
                                                                            ("form_post", "form_post")])
    claim_subject = models.CharField(max_length=100, default="sub")
    claim_email = models.CharField(max_length=100, default="email")
    claim_email_verified = models.CharField(max_length=100, default="email_verified", blank=True)
    claim_name = models.CharField(max_length=100, default="name", blank=True)
    claim_groups = models.CharField(max_length=200, default="groups", blank=True)
    assume_email_verified = models.BooleanField(
        default=False, help_text="Treat every e-mail from this provider as verified (only when it owns the domains).")
    use_userinfo = models.BooleanField(default=False, help_text="Also read claims from the userinfo endpoint.")
    # Entra ID multi-tenant ({tenantid} issuer): the directory ids whose users may sign in.
    allowed_tenant_ids = models.JSONField(default=list, blank=True)
    domains = models.JSONField(default=list, blank=True)
    jit_provisioning = models.BooleanField(default=True)
    default_role = models.CharField(max_length=10, choices=[(r.value, r.label) for r in MAPPABLE_ROLES],
                                    default=Role.MEMBER)
    group_roles = models.JSONField(default=dict, blank=True, help_text='{"group": "role"}; highest role wins.')
    sso_required = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    last_test = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="idp_tenant_slug")]

    def __str__(self):
        return self.name

    @property
    def client_secret_aad(self) -> bytes:
        return f"identity-provider:{self.pk}:client-secret".encode()

    @property
    def private_key_aad(self) -> bytes:
        return f"identity-provider:{self.pk}:private-key".encode()

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def owns_domain(self, domain: str) -> bool:
        return (domain or "").lower() in {d.lower() for d in self.domains}


class FederatedIdentity(TenantOwned):
    """(provider, subject) -> user. The same subject always signs in as the same user."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    identity_provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE, related_name="identities")
    subject = models.CharField(max_length=255)
    user = models.ForeignKey("identity.User", on_delete=models.CASCADE, related_name="federated_identities")
    email = models.EmailField(blank=True)
    groups = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_sign_in_at"]
        verbose_name_plural = "federated identities"
        constraints = [models.UniqueConstraint(fields=["identity_provider", "subject"],
                                               name="federated_identity_idp_subject")]

    def __str__(self):
        return f"{self.email or self.subject} via {self.identity_provider.slug}"


class VerifiedEmailDomain(TenantOwned):
    """An e-mail domain the platform operator has verified as this tenant's (``manage.py email_domain``).

    Who may create or claim platform accounts for an address: a tenant's provider may create a new
    account, or link an account that is also a member elsewhere, for a domain this tenant verified; for a
    domain another tenant verified, it may do neither. Unverified domains keep the cautious default (new
    accounts yes, accounts of other tenants' members no), and the verified owner of a domain can always
    sign its people in, so no other tenant's provider can lock them out (issue 16, item 9)."""

    domain = models.CharField(max_length=253, unique=True)
    verified_by = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self):
        return f"{self.domain} (verified for {self.tenant_id})"


class FederatedSession(TenantOwned):
    """A platform session opened through a provider, so its back-channel logout can end it."""

    identity = models.ForeignKey(FederatedIdentity, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=64)
    sid = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["identity", "sid"])]


class LogoutTokenUse(TenantOwned):
    """A back-channel logout token's jti, kept until it expires so that a replay is refused."""

    identity_provider = models.ForeignKey(IdentityProvider, on_delete=models.CASCADE)
    jti = models.CharField(max_length=255)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["identity_provider", "jti"], name="logout_token_jti")]


crypto.register("identity.IdentityProvider", "client_secret_encrypted", aad=lambda row: row.client_secret_aad)
crypto.register("identity.IdentityProvider", "private_key_encrypted", aad=lambda row: row.private_key_aad)


# --- People: invitations, password resets and tracked sessions (identity/people/) ----------------------
# A link's secret is never stored: a link carries ``<row id>.<secret>`` and the row keeps the secret's
# keyed digest (kit.crypto.secret_digest), so a database dump opens no account and the row is found by id.


class InvitationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class Invitation(TenantOwned):
    """A link that lets a member who was added by e-mail in: they set a password or sign in through the
    tenant's identity provider. Single use, expiring, revocable; a resend issues a new secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices)
    invited_by = models.CharField(max_length=255, blank=True)
    secret_digest = models.CharField(max_length=128, blank=True)  # empty until the mail task issues the link
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    sends = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "accepted_at", "revoked_at"])]

    def __str__(self):
        return f"invitation of {self.email} to {self.tenant_id}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return InvitationStatus.ACCEPTED
        if self.revoked_at:
            return InvitationStatus.REVOKED
        if self.expires_at <= timezone.now():
            return InvitationStatus.EXPIRED
        return InvitationStatus.PENDING


class PasswordReset(models.Model):
    """A password-reset link. Platform-wide like the account; ``tenant`` is the sign-in page it was asked
    from (its branding and its link), or None for the console's."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="password_resets")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    secret_digest = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"password reset of {self.user_id}"


class UserSession(models.Model):
    """A signed-in browser session, so that its person (and, at a tenant, its admins) can see and end it.

    Keyed by the session key. ``tenant`` is the sign-in page it was opened at (None: the console);
    ``seen_at_tenants`` every tenant whose pages it was used at, so a tenant admin ends exactly the
    sessions of a member that act at that tenant. ``last_seen_at`` moves at most once a minute."""

    session_key = models.CharField(max_length=64, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracked_sessions")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    seen_at_tenants = models.JSONField(default=list, blank=True)
    method = models.CharField(max_length=80, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [models.Index(fields=["user", "-last_seen_at"])]

    def __str__(self):
        return f"session of {self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"
