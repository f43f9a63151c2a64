from rest_framework import serializers

from identity.models import FederatedIdentity, IdentityProvider, Preset
from identity.views import provider_urls
from tenants.api import strict


class IdentityProviderSerializer(strict.ModelSerializer):
    """The client secret is write-only; what the admin registers at the provider comes back as `urls`."""

    preset = serializers.ChoiceField(choices=Preset.choices, default=Preset.GENERIC)
    address = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                    help_text="Issuer URL, Okta/Auth0 domain, Entra directory id, Keycloak realm URL")
    client_secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                          style={"input_type": "password"})
    has_client_secret = serializers.SerializerMethodField()
    domains = serializers.ListField(child=serializers.CharField(max_length=253), required=False)
    allowed_tenant_ids = serializers.ListField(child=serializers.CharField(max_length=64), required=False)
    group_roles = serializers.DictField(child=serializers.CharField(max_length=10), required=False)
    urls = serializers.SerializerMethodField()

    class Meta:
        model = IdentityProvider
        fields = ["id", "name", "slug", "preset", "address", "discovery_url", "issuer", "client_id", "client_secret",
                  "has_client_secret", "client_auth_method", "scopes", "response_mode", "claim_subject", "claim_email",
                  "claim_email_verified", "claim_name", "claim_groups", "assume_email_verified", "use_userinfo",
                  "allowed_tenant_ids", "domains", "jit_provisioning", "default_role", "group_roles", "sso_required",
                  "enabled", "urls", "last_test", "created_at", "updated_at"]
        read_only_fields = ["id", "last_test", "created_at", "updated_at"]
        extra_kwargs = {"discovery_url": {"required": False}, "issuer": {"required": False},
                        "scopes": {"required": False}}
        validators = []  # the services check uniqueness and the rules that span fields

    def get_has_client_secret(self, idp) -> bool:
        return bool(idp.client_secret_encrypted)

    def get_urls(self, idp) -> dict:
        return provider_urls(idp)


class IdentityProviderUpdateSerializer(IdentityProviderSerializer):
    class Meta(IdentityProviderSerializer.Meta):
        read_only_fields = [*IdentityProviderSerializer.Meta.read_only_fields, "slug", "preset"]


class FederatedIdentitySerializer(strict.ModelSerializer):
    user = serializers.EmailField(source="user.email", read_only=True)
    identity_provider = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = FederatedIdentity
        fields = ["id", "identity_provider", "subject", "user", "email", "groups", "created_at", "last_sign_in_at"]
        read_only_fields = fields
