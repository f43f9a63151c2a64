from rest_framework import serializers

from tenants import domains
from tenants.api import strict
from tenants.models import Membership, Role, Tenant


class TenantSerializer(strict.ModelSerializer):
    issuer = serializers.CharField(read_only=True)
    member_count = serializers.IntegerField(read_only=True, required=False)
    owner_email = serializers.EmailField(write_only=True, required=False, help_text=(
        "the tenant's first owner: added and sent an invitation to set a password or sign in with SSO"))

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "status", "suspended_reason", "display_name", "logo_url", "accent_color",
                  "default_language", "custom_domain", "custom_domain_verified", "issuer", "member_count",
                  "created_at", "updated_at", "owner_email"]
        read_only_fields = ["id", "status", "suspended_reason", "custom_domain_verified", "created_at",
                            "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}  # uniqueness is the service's rule, with its message


class TenantUpdateSerializer(TenantSerializer):
    owner_email = None  # owners are members: /members adds one

    class Meta(TenantSerializer.Meta):
        fields = [f for f in TenantSerializer.Meta.fields if f != "owner_email"]
        read_only_fields = TenantSerializer.Meta.read_only_fields + ["slug"]


class BrandingSerializer(strict.ModelSerializer):
    """The caller's own tenant: its name and branding are writable, the rest is shown."""

    issuer = serializers.CharField(read_only=True)

    class Meta:
        model = Tenant
        fields = ["slug", "name", "display_name", "logo_url", "accent_color", "default_language", "custom_domain",
                  "custom_domain_verified", "issuer"]
        read_only_fields = ["slug", "custom_domain", "custom_domain_verified"]


class CustomDomainSerializer(strict.Serializer):
    """A claimed domain and the DNS record that proves it (create it, then POST .../verify)."""

    domain = serializers.CharField(max_length=253, source="custom_domain",
                                   help_text="e.g. auth.example.com; serves the tenant's issuer once verified")
    verified = serializers.BooleanField(source="custom_domain_verified", read_only=True)
    record_name = serializers.SerializerMethodField(help_text="the DNS name of the TXT record to create")
    record_type = serializers.SerializerMethodField()
    record_value = serializers.CharField(source="custom_domain_token", read_only=True,
                                         help_text="the TXT record's value (not a secret: it is published)")
    checked_at = serializers.DateTimeField(source="custom_domain_checked_at", read_only=True, allow_null=True)
    consecutive_failures = serializers.IntegerField(source="custom_domain_failures", read_only=True)

    def get_record_name(self, tenant) -> str:
        return domains.challenge_name(tenant.custom_domain)

    def get_record_type(self, tenant) -> str:
        return "TXT"


class SuspendSerializer(strict.Serializer):
    reason = serializers.CharField(max_length=300)


class MembershipSerializer(strict.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]
        read_only_fields = ["id", "name", "created_at"]
        extra_kwargs = {"role": {"required": True}}


class MembershipRoleSerializer(strict.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
