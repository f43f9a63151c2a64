"""The registry of MCP servers (protected resources) a tenant authorizes access to."""

import uuid

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models

from kit import crypto
from kit.tenant_owned import TenantOfParentManager, TenantOwned

SCOPE_NAME = RegexValidator(r"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$",
                            "A scope is 1-100 printable characters without spaces, quotes or backslashes.")


class HostingMode(models.TextChoices):
    EXTERNAL = "external", "External (the MCP server runs mcp_guard)"
    GATEWAY = "gateway", "Gateway (the platform proxies to an upstream MCP server)"


class ResourceStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


class MCPResource(TenantOwned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.SlugField(max_length=60, help_text="Short name, used in gateway paths: /t/<tenant>/mcp/<name>")
    display_name = models.CharField(max_length=120, blank=True)
    description = models.TextField(blank=True)
    # Unique platform-wide: two tenants claiming one URI would be a confused-deputy risk.
    uri = models.CharField("canonical resource URI", max_length=2000, unique=True)
    hosting_mode = models.CharField(max_length=10, choices=HostingMode.choices, default=HostingMode.EXTERNAL)
    upstream_url = models.URLField(max_length=2000, blank=True)
    documentation_url = models.URLField(max_length=2000, blank=True)
    status = models.CharField(max_length=10, choices=ResourceStatus.choices, default=ResourceStatus.ACTIVE)
    # Self-registered clients (DCR, CIMD) may ask for this server, each user consenting per server; off,
    # only clients an admin allowed it explicitly can (oauth/protocol/targets.py).
    admits_self_registered = models.BooleanField(
        "admits self-registered clients", default=True,
        help_text="Clients that registered themselves (DCR or a Client ID Metadata Document) may ask for "
                  "tokens for this server, with each user's consent. Off: only clients allowed explicitly.")
    access_token_lifetime = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(60)],
        help_text="Seconds; empty uses the tenant's default.")
    verified_at = models.DateTimeField(null=True, blank=True)
    verification_error = models.CharField(max_length=500, blank=True)
    verification_checked_at = models.DateTimeField(null=True, blank=True)
    # Bearer token the platform presents when it lists the server's tools (tool import); encrypted with
    # the platform KEK and bound to this row (kit.crypto), never shown again after it is set.
    management_token_encrypted = models.TextField(blank=True)
    tools_synced_at = models.DateTimeField(null=True, blank=True)
    # Gateway resources: the secret the platform signs the X-MCP-Identity assertion with (shared with the
    # upstream, which verifies it); encrypted like the management token. Empty: no assertion is sent.
    gateway_identity_secret_encrypted = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="mcpresource_tenant_name")]

    def __str__(self):
        return self.display_name or self.name

    @property
    def is_active(self) -> bool:
        return self.status == ResourceStatus.ACTIVE

    @property
    def is_gateway(self) -> bool:
        return self.hosting_mode == HostingMode.GATEWAY

    @property
    def verification_status(self) -> str:
        """"verified", "failed" or "unverified": the last check's outcome, gateway resources included (their
        path answers only where the platform runs under its ASGI server)."""
        if self.verification_error:
            return "failed"
        return "verified" if self.verified_at else "unverified"

    @property
    def management_token_aad(self) -> bytes:
        return f"mcp-resource-management-token:{self.pk}".encode()

    @property
    def gateway_identity_secret_aad(self) -> bytes:
        return f"mcp-resource-gateway-identity-secret:{self.pk}".encode()


class _TenantOfResource(TenantOwned):
    """A row under a resource carries the resource's tenant_id as well (sharding by tenant needs it on every
    tenant-owned table). Services set it; a row created with only its resource gets it from there, and a
    row that names another tenant than its resource's is refused."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        owner = self.resource.tenant_id
        if self.tenant_id is None:
            self.tenant_id = owner
        elif self.tenant_id != owner:
            raise ValueError(f"{self.__class__.__name__} of tenant {self.tenant_id} under a resource of {owner}")
        super().save(*args, **kwargs)


class ResourceScope(_TenantOfResource):
    resource = models.ForeignKey(MCPResource, on_delete=models.CASCADE, related_name="scopes")
    name = models.CharField(max_length=100, validators=[SCOPE_NAME])
    description = models.CharField(max_length=300, blank=True)
    granted_by_default = models.BooleanField(
        default=True, help_text="Granted when a client asks for no scope; otherwise only when requested.")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="resourcescope_resource_name")]

    def __str__(self):
        return self.name


class ResourceTool(_TenantOfResource):
    resource = models.ForeignKey(MCPResource, on_delete=models.CASCADE, related_name="tools")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True)
    required_scopes = models.ManyToManyField(ResourceScope, blank=True, related_name="tools",
                                             through="ResourceToolScope")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["resource", "name"], name="resourcetool_resource_name")]

    def __str__(self):
        return self.name


class ResourceToolScope(TenantOwned):
    """Which scopes a token needs to call a tool: the many-to-many link, a tenant-owned table like the two
    it links (its table and columns are those of the implicit link table it replaced)."""

    resourcetool = models.ForeignKey(ResourceTool, on_delete=models.CASCADE)
    resourcescope = models.ForeignKey(ResourceScope, on_delete=models.CASCADE)

    objects = TenantOfParentManager()
    tenant_from = "resourcetool"  # a link row added without a tenant gets its resourcetool's

    class Meta:
        db_table = "mcp_registry_resourcetool_required_scopes"
        unique_together = [("resourcetool", "resourcescope")]

    def __str__(self):
        return f"{self.resourcetool_id} needs {self.resourcescope_id}"


crypto.register("mcp_registry.MCPResource", "management_token_encrypted", aad=lambda row: row.management_token_aad)
crypto.register("mcp_registry.MCPResource", "gateway_identity_secret_encrypted",
                aad=lambda row: row.gateway_identity_secret_aad)
