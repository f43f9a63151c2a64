from rest_framework import serializers

from mcp_registry.models import HostingMode, MCPResource, ResourceScope, ResourceTool
from tenants.api import strict


class ScopeSerializer(strict.ModelSerializer):
    class Meta:
        model = ResourceScope
        fields = ["name", "description", "granted_by_default"]
        extra_kwargs = {"name": {"validators": []}}  # the service validates, with its message


class ToolSerializer(strict.ModelSerializer):
    scopes = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=True,
                                   help_text="Scopes a token needs to call the tool (at least one).")

    class Meta:
        model = ResourceTool
        fields = ["name", "description", "scopes"]
        extra_kwargs = {"name": {"validators": []}}

    def to_representation(self, tool):
        return {"name": tool.name, "description": tool.description,
                "scopes": sorted(s.name for s in tool.required_scopes.all())}


class ResourceSerializer(strict.ModelSerializer):
    uri = serializers.CharField(max_length=2000, required=False, allow_blank=True,
                                help_text="External resources: the MCP endpoint. Gateway resources: computed.")
    hosting_mode = serializers.ChoiceField(choices=HostingMode.choices, default=HostingMode.EXTERNAL)
    upstream_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    documentation_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    scopes = ScopeSerializer(many=True, required=False)
    tools = ToolSerializer(many=True, read_only=True)
    verification_status = serializers.CharField(read_only=True)
    has_management_token = serializers.SerializerMethodField()
    sends_identity_assertion = serializers.SerializerMethodField()

    class Meta:
        model = MCPResource
        fields = ["id", "name", "display_name", "description", "uri", "hosting_mode", "upstream_url",
                  "documentation_url", "status", "access_token_lifetime", "admits_self_registered", "scopes",
                  "tools", "verification_status",
                  "verified_at", "verification_checked_at", "verification_error", "has_management_token",
                  "sends_identity_assertion", "tools_synced_at", "created_at", "updated_at"]
        read_only_fields = ["id", "status", "verified_at", "verification_checked_at", "verification_error",
                            "tools_synced_at", "created_at", "updated_at"]
        extra_kwargs = {"name": {"validators": []}}

    def get_has_management_token(self, resource) -> bool:
        return bool(resource.management_token_encrypted)

    def get_sends_identity_assertion(self, resource) -> bool:
        return bool(resource.gateway_identity_secret_encrypted)


class ResourceUpdateSerializer(strict.Serializer):
    display_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    uri = serializers.CharField(max_length=2000, required=False)
    upstream_url = serializers.CharField(max_length=2000, required=False)
    documentation_url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    access_token_lifetime = serializers.IntegerField(min_value=60, required=False, allow_null=True)
    admits_self_registered = serializers.BooleanField(
        required=False, help_text="Self-registered clients (DCR, CIMD) may ask for tokens for this server, with "
                                  "each user's consent; false: only clients allowed explicitly.")


class ManagementTokenSerializer(strict.Serializer):
    token = serializers.CharField(allow_blank=True, write_only=True)


class GatewayIdentitySecretSerializer(strict.Serializer):
    secret = serializers.CharField(allow_blank=True, write_only=True, trim_whitespace=True)


class PRMPreviewSerializer(strict.Serializer):
    url = serializers.URLField()
    well_known_url = serializers.URLField()
    curl = serializers.CharField()
    document = serializers.DictField()
    snippet = serializers.CharField()


class ImportRequestSerializer(strict.Serializer):
    strategy = serializers.ChoiceField(choices=["group", "tool"], default="group")


class ImportApplySerializer(strict.Serializer):
    tools = serializers.ListField(child=serializers.DictField(), allow_empty=True)
    remove = serializers.ListField(child=serializers.CharField(max_length=128), required=False, default=list)
