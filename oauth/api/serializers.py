"""Shapes of the authorization server's admin API. Secrets and token values never appear in a response,
except a client secret once, in the answer to the request that generated it."""

from rest_framework import serializers

from oauth.models import GRANT_TYPES, AccessToken, Application, Consent, KeyAlgorithm, SigningKey, TenantAuthSettings
from tenants.api import strict


class SpaceSeparated(serializers.ListField):
    """A model's space-separated string as a JSON list."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", serializers.CharField(max_length=2000))
        super().__init__(**kwargs)

    def to_representation(self, value):
        return value.split() if isinstance(value, str) else list(value)


class ClientSerializer(strict.ModelSerializer):
    client_id = serializers.CharField(source="public_client_id", read_only=True,
                                      help_text="What the client calls itself: a CIMD client's document URL, else "
                                                "the platform id.")
    platform_client_id = serializers.CharField(source="client_id", read_only=True,
                                               help_text="The platform's id of the client, used in API paths.")
    token_endpoint_auth_methods = serializers.SerializerMethodField(
        help_text="Every method the client may authenticate with (a metadata document may list several).")
    grant_types = SpaceSeparated(child=serializers.ChoiceField(choices=GRANT_TYPES), required=False)
    redirect_uris = SpaceSeparated(required=False)
    scopes = SpaceSeparated(source="allowed_scopes", required=False,
                            help_text="Scopes the client may ask for; empty allows every scope of its resources. "
                                      "Admin scopes (admin:<area>, admin:<area>.read) are listed here.")
    allowed_resources = serializers.SlugRelatedField(slug_field="uri", many=True, read_only=True)
    resources = serializers.ListField(
        child=serializers.CharField(max_length=2000), write_only=True, required=False,
        help_text="URIs or names of the tenant's MCP resources this client may get tokens for.")
    client_secret = serializers.SerializerMethodField(
        help_text="Shown once: in the response that created or rotated it. Stored only as a keyed digest.")

    class Meta:
        model = Application
        fields = ["client_id", "platform_client_id", "name", "client_type", "status", "token_endpoint_auth_method",
                  "token_endpoint_auth_methods", "grant_types",
                  "redirect_uris", "scopes", "allowed_resources", "resources", "verified", "client_uri",
                  "logo_uri", "jwks", "jwks_uri", "registration_source", "creator_role", "client_secret", "created",
                  "updated"]
        # Set at creation: the type and auth method. Set later (client_update): the links shown on consent.
        read_only_fields = ["client_id", "status", "registration_source", "creator_role", "created", "updated",
                            "client_uri", "logo_uri"]
        extra_kwargs = {"client_type": {"choices": [Application.CLIENT_PUBLIC, Application.CLIENT_CONFIDENTIAL]},
                        "token_endpoint_auth_method": {"required": False}, "name": {"required": True}}
        written_as = {"allowed_resources": "resources"}

    def get_client_secret(self, obj) -> str | None:
        return self.context.get("client_secret")

    def get_token_endpoint_auth_methods(self, obj) -> list[str]:
        return [obj.token_endpoint_auth_method, *obj.token_endpoint_auth_methods.split()]


class ClientUpdateSerializer(ClientSerializer):
    class Meta(ClientSerializer.Meta):
        read_only_fields = ["client_id", "status", "registration_source", "creator_role", "created", "updated",
                            "client_type", "token_endpoint_auth_method"]


class SuspendSerializer(strict.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class SecretSerializer(strict.Serializer):
    client_id = serializers.CharField()
    client_secret = serializers.CharField(help_text="Shown once; the previous secret stops working now.")


class AccessTokenSerializer(strict.ModelSerializer):
    client_id = serializers.CharField(source="application.public_client_id", read_only=True)
    client_name = serializers.CharField(source="application.name", read_only=True)
    user = serializers.EmailField(source="user.email", read_only=True, default=None)
    resource = serializers.CharField(source="audience", read_only=True)

    class Meta:
        model = AccessToken
        fields = ["id", "jti", "client_id", "client_name", "user", "resource", "scope", "grant_type", "kid",
                  "created", "expires"]
        read_only_fields = fields


class TokenRevokeSerializer(strict.Serializer):
    client_id = serializers.CharField(required=False)
    user = serializers.EmailField(required=False, help_text="E-mail of the user whose tokens to revoke.")
    resource = serializers.CharField(required=False, max_length=2000, help_text="URI of the MCP resource.")

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("name a client_id, a user and/or a resource whose tokens to revoke")
        return attrs


class RevokedSerializer(strict.Serializer):
    revoked = serializers.IntegerField(help_text="Access and refresh tokens revoked.")


class GrantSerializer(strict.ModelSerializer):
    """A user's remembered consent: a client may act for them at a resource with these scopes."""

    client_id = serializers.CharField(source="application.public_client_id", read_only=True)
    client_name = serializers.CharField(source="application.name", read_only=True)
    user = serializers.EmailField(source="user.email", read_only=True)
    resource = serializers.CharField(source="audience", read_only=True)
    scopes = SpaceSeparated(read_only=True)

    class Meta:
        model = Consent
        fields = ["id", "client_id", "client_name", "user", "resource", "scopes", "created_at", "updated_at"]
        read_only_fields = fields


class SigningKeySerializer(strict.ModelSerializer):
    class Meta:
        model = SigningKey
        fields = ["kid", "alg", "state", "public_jwk", "created_at", "activated_at", "retired_at", "removed_at"]
        read_only_fields = fields


class KeyRotateSerializer(strict.Serializer):
    alg = serializers.ChoiceField(choices=KeyAlgorithm.choices, required=False,
                                  help_text="Algorithm of the new active key; default: the tenant's setting.")
    expected_kid = serializers.CharField(required=False, max_length=100,
                                         help_text="The active key you saw: if another request rotated it "
                                                   "meanwhile, nothing is rotated (409) instead of twice.")


class AuthSettingsSerializer(strict.ModelSerializer):
    default_resource = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=2000,
        help_text="URI of the MCP resource a token is for when the request names none and neither its scopes "
                  "nor the client's resources decide (RFC 8707 §2); null for none.")

    class Meta:
        model = TenantAuthSettings
        fields = ["access_token_lifetime", "refresh_token_lifetime", "signing_alg", "default_resource",
                  "updated_at"]
        read_only_fields = ["updated_at"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["default_resource"] = instance.default_resource.uri if instance.default_resource_id else None
        return data

