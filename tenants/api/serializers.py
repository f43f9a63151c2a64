from rest_framework import serializers

from tenants.models import Membership, Role, Tenant


class TenantSerializer(serializers.ModelSerializer):
    issuer = serializers.CharField(read_only=True)
    member_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "status", "suspended_reason", "display_name", "logo_url", "accent_color",
                  "custom_domain", "custom_domain_verified", "issuer", "member_count", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "suspended_reason", "custom_domain_verified", "created_at",
                            "updated_at"]
        extra_kwargs = {"slug": {"validators": []}}  # uniqueness is the service's rule, with its message


class TenantUpdateSerializer(TenantSerializer):
    class Meta(TenantSerializer.Meta):
        read_only_fields = TenantSerializer.Meta.read_only_fields + ["slug"]


class SuspendSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]
        read_only_fields = ["id", "name", "created_at"]
        extra_kwargs = {"role": {"required": True}}


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)
