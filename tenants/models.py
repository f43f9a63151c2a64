import re
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models

from kit.tenant_owned import TenantOwned

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
# Words that name platform paths or would confuse people reading an issuer URL.
RESERVED_SLUGS = frozenset({
    "admin", "api", "app", "apps", "auth", "authorize", "console", "default", "docs", "health", "healthz",
    "login", "logout", "mcp", "metrics", "new", "null", "oauth", "oauth2", "platform", "readyz", "register",
    "root", "settings", "signin", "signup", "sso", "static", "status", "system", "t", "tenant", "tenants",
    "token", "undefined", "well-known", "www",
})


def validate_slug(value: str) -> None:
    if not re.match(SLUG_PATTERN, value or ""):
        raise ValidationError(
            "Use 1-40 lower-case letters, digits and hyphens, starting and ending with a letter or digit.",
            code="invalid_slug")
    if value in RESERVED_SLUGS:
        raise ValidationError(f"'{value}' is reserved by the platform; choose another slug.", code="reserved_slug")


def language_choices():
    """settings.LANGUAGES, read when asked: a language added there needs no migration."""
    return settings.LANGUAGES


class TenantStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class Tenant(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(max_length=40, unique=True, validators=[validate_slug])
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=12, choices=TenantStatus.choices, default=TenantStatus.ACTIVE)
    suspended_reason = models.CharField(max_length=300, blank=True)
    # Branding shown on the tenant's sign-in, consent and error pages.
    display_name = models.CharField(max_length=120, blank=True)
    logo_url = models.URLField(blank=True, validators=[RegexValidator(r"^https://", "Logo URLs must use https.")])
    accent_color = models.CharField(max_length=7, default="#4f46e5",
                                    validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #4f46e5.")])
    # Unique only once verified (Meta.constraints): an unproven claim must not tell anyone that another
    # tenant has claimed the same name, nor block the tenant that can prove it.
    # The end-user pages' language when neither ui_locales nor Accept-Language names one (tenants/locale.py).
    default_language = models.CharField(max_length=8, choices=language_choices, default="en")
    custom_domain = models.CharField(max_length=253, null=True, blank=True)  # noqa: DJ001 (NULL: none set)
    custom_domain_verified = models.BooleanField(default=False)
    # The value the TXT record must hold (tenants/domains.py). Random per claim, stored plainly: it is
    # published in public DNS anyway and proves nothing by itself, only its presence under the domain does.
    custom_domain_token = models.CharField(max_length=64, blank=True)
    custom_domain_checked_at = models.DateTimeField(null=True, blank=True)
    custom_domain_failures = models.PositiveSmallIntegerField(default=0)  # consecutive failed re-checks
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [models.UniqueConstraint(fields=["custom_domain"], name="tenant_verified_custom_domain",
                                               condition=models.Q(custom_domain_verified=True))]

    def __str__(self):
        return self.slug

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    @property
    def label(self) -> str:
        return self.display_name or self.name

    @property
    def issuer(self) -> str:
        """The OAuth issuer: computed from configuration, never from the request's Host header."""
        if self.custom_domain and self.custom_domain_verified:
            return f"https://{self.custom_domain}"
        return f"{settings.PUBLIC_URL}/t/{self.slug}"


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    AUDITOR = "auditor", "Auditor"
    MEMBER = "member", "Member"


ADMIN_ROLES = (Role.OWNER, Role.ADMIN)
CONSOLE_ROLES = (Role.OWNER, Role.ADMIN, Role.AUDITOR)


class Membership(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_tenant_user")]

    def __str__(self):
        return f"{self.user} @ {self.tenant} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES
