"""REST API of oauth's jobs: bulk token revocation as a job, the rotation policy, the key timeline,
rotate-now (at most once per observed key) and emergency rotation. The job log itself (list, detail,
cancel) is jobs/api/. Every endpoint is a ``TenantEndpoint``; writes go through oauth.signing.rotation and
oauth.grants.revocation.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from jobs.api.views import JobSerializer
from mcp_registry import selectors as registry
from oauth.clients import selectors as client_selectors
from oauth.grants import revocation
from oauth.signing import rotation
from tenants.api import strict
from tenants.api.base import TenantEndpoint
from tenants.selectors import member_by_email


class RevocationJobSerializer(strict.Serializer):
    client_id = serializers.CharField(required=False, max_length=255)
    user = serializers.EmailField(required=False, help_text="The user's e-mail.")
    resource = serializers.CharField(required=False, max_length=2000, help_text="Resource URI or name.")
    family = serializers.UUIDField(required=False, help_text="A refresh-token family.")
    kid = serializers.CharField(required=False, max_length=64, help_text="Tokens signed by this key.")
    everything = serializers.BooleanField(required=False, default=False, help_text="Every token of the tenant.")


class TokenRevocationJobViewSet(TenantEndpoint):
    """Bulk revocation as a background job (batched, with progress, cancellable); criteria combine."""

    api_area = "tokens"
    serializer_class = RevocationJobSerializer

    @extend_schema(request=RevocationJobSerializer, responses={202: JobSerializer})
    def create(self, request):
        data = RevocationJobSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted, criteria = data.validated_data, {}
        if "client_id" in wanted:
            criteria["client"] = client_selectors.client_by_id(self.tenant, wanted["client_id"])
            if criteria["client"] is None:
                raise ValidationError({"client_id": [f"no client '{wanted['client_id']}' in this tenant"]})
        if "user" in wanted:
            criteria["user"] = member_by_email(self.tenant, wanted["user"])
            if criteria["user"] is None:
                raise ValidationError({"user": [f"no member '{wanted['user']}' in this tenant"]})
        if "resource" in wanted:
            # A URI nothing is registered at still names the audience of tokens to revoke.
            named = wanted["resource"]
            criteria["resource"] = registry.resource_by_uri_or_name(self.tenant, named) or named
        for field in ("family", "kid", "everything"):
            if wanted.get(field):
                criteria[field] = wanted[field]
        run = revocation.revocation_request(tenant=self.tenant, actor=self.get_actor(), request=request, **criteria)
        return Response(JobSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RotationPolicySerializer(strict.Serializer):
    enabled = serializers.BooleanField(required=False)
    rotation_interval = serializers.IntegerField(required=False, min_value=1, help_text="Seconds.")
    lead_time = serializers.IntegerField(required=False, min_value=1,
                                         help_text="Seconds; at least the JWKS cache lifetime.")
    removal_grace = serializers.IntegerField(required=False, min_value=0, help_text="Seconds.")


class TimelineSerializer(strict.Serializer):
    kid = serializers.CharField()
    alg = serializers.CharField()
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    activated_at = serializers.DateTimeField(allow_null=True)
    retired_at = serializers.DateTimeField(allow_null=True)
    removed_at = serializers.DateTimeField(allow_null=True)
    upcoming = serializers.CharField(help_text="What the lifecycle does next with this key.")
    upcoming_at = serializers.DateTimeField(allow_null=True)
    kek = serializers.CharField(help_text="KEK version wrapping the private key.")


class EmergencySerializer(strict.Serializer):
    kid = serializers.CharField(max_length=64, help_text="The compromised key (active or retired).")


class EmergencyResultSerializer(strict.Serializer):
    compromised = serializers.CharField(help_text="The removed key.")
    active = serializers.CharField(help_text="The key that signs now.")
    tokens_revoked = serializers.IntegerField()


class KeyRotationViewSet(TenantEndpoint):
    """The tenant's rotation policy, key timeline and emergency rotation (rotate now: POST /api/v1/keys/rotate)."""

    api_area = "keys"
    step_up = True
    serializer_class = RotationPolicySerializer

    def _policy(self):
        policy = rotation.policy_of(self.tenant)
        return {name: getattr(policy, name) for name in rotation.POLICY_FIELDS}

    @extend_schema(responses=RotationPolicySerializer)
    def policy(self, request):
        return Response(self._policy())

    @extend_schema(request=RotationPolicySerializer, responses=RotationPolicySerializer)
    def update_policy(self, request):
        data = RotationPolicySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rotation.rotation_policy_update(tenant=self.tenant, actor=self.get_actor(), request=request,
                                        **data.validated_data)
        return Response(self._policy())

    @extend_schema(responses=TimelineSerializer(many=True))
    def timeline(self, request):
        return Response(TimelineSerializer(rotation.key_timeline(self.tenant), many=True).data)

    @extend_schema(request=EmergencySerializer, responses=EmergencyResultSerializer)
    def emergency(self, request):
        data = EmergencySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = rotation.key_emergency_rotate(tenant=self.tenant, actor=self.get_actor(), request=request,
                                               kid=data.validated_data["kid"])
        if result is None:
            raise ValidationError({"kid": [f"no published key '{data.validated_data['kid']}' in this tenant"]})
        return Response({"compromised": result.compromised, "active": result.active.kid,
                         "tokens_revoked": result.revoked})


urlpatterns = [
    path("token-revocations", TokenRevocationJobViewSet.as_view({"post": "create"}), name="token-revocations"),
    path("key-rotation/policy", KeyRotationViewSet.as_view({"get": "policy", "patch": "update_policy"}),
         name="key-rotation-policy"),
    path("key-rotation/timeline", KeyRotationViewSet.as_view({"get": "timeline"}), name="key-rotation-timeline"),
    path("key-rotation/emergency", KeyRotationViewSet.as_view({"post": "emergency"}), name="key-rotation-emergency"),
]
