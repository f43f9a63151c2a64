"""REST API of the approval workflow (``/api/v1/registrations``, ``/api/v1/registration-policy``,
``/api/v1/registration-rules``, ``/api/v1/initial-access-tokens``, ``/api/v1/trusted-publishers``):
tenant from the credential, area ``clients`` (read: ``admin:clients.read``; decisions, settings:
``admin:clients``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from tenants.api import strict
from tenants.api.base import TenantEndpoint

from .. import selectors, services
from ..models import (
    ApprovalRule,
    ClientRegistration,
    InitialAccessToken,
    RegistrationMode,
    RegistrationPolicy,
    TrustedPublisher,
)
from ..policy import policy_of


class RegistrationSerializer(strict.ModelSerializer):
    client_id = serializers.CharField(source="public_client_id", read_only=True)
    platform_client_id = serializers.CharField(source="application.client_id", read_only=True)
    client_name = serializers.CharField(source="application.name", read_only=True)
    status = serializers.CharField(source="application.status", read_only=True)
    redirect_uris = serializers.SerializerMethodField()
    publisher = serializers.CharField(source="publisher.name", default=None, read_only=True)

    class Meta:
        model = ClientRegistration
        fields = ["id", "client_id", "platform_client_id", "client_name", "status", "source", "redirect_uris",
                  "metadata", "software_id", "publisher", "decision_rule", "duplicate_count", "requester_ip",
                  "justification", "justified_at", "decided_by", "decided_at", "decision_reason", "cimd_url",
                  "cimd_fetched_at", "cimd_expires_at", "created_at"]
        read_only_fields = fields

    def get_redirect_uris(self, obj) -> list[str]:
        return obj.application.redirect_uris.split()


class DecisionSerializer(strict.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")


class RegistrationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Registered clients and the approval queue. Filters: ``status``, ``source``, ``search``."""

    api_area = "clients"
    step_up = True
    serializer_class = RegistrationSerializer

    def get_queryset(self):
        params = self.request.query_params
        return selectors.registrations_of(self.tenant, status=params.get("status", ""),
                                          source=params.get("source", ""), search=params.get("search", "")[:200])

    def _decide(self, request, service):
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        registration = service(registration=self.get_object(), actor=self.get_actor(), request=request,
                               reason=data.validated_data["reason"])
        return Response(RegistrationSerializer(self.get_queryset().get(pk=registration.pk)).data)

    @extend_schema(request=DecisionSerializer, responses=RegistrationSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self._decide(request, services.registration_approve)

    @extend_schema(request=DecisionSerializer, responses=RegistrationSerializer,
                   description="The reason is required and shown to the requester.")
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, services.registration_reject)

    @extend_schema(request=DecisionSerializer, responses=RegistrationSerializer,
                   description="Suspends the client and revokes its tokens.")
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        return self._decide(request, services.registration_suspend)

    @extend_schema(request=DecisionSerializer, responses=RegistrationSerializer)
    @action(detail=True, methods=["post"])
    def reapprove(self, request, pk=None):
        return self._decide(request, services.registration_reapprove)


class PolicySerializer(strict.ModelSerializer):
    dcr_mode = serializers.ChoiceField(choices=RegistrationMode.choices, required=False)
    cimd_mode = serializers.ChoiceField(choices=RegistrationMode.choices, required=False)
    webhook_secret = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=500)

    class Meta:
        model = RegistrationPolicy
        fields = ["dcr_mode", "cimd_mode", "pending_cap", "unused_expiry_days", "address_rate_per_minute",
                  "tenant_rate_per_minute", "registration_token_days", "notify_emails", "webhook_url",
                  "webhook_secret", "updated_at"]
        read_only_fields = ["updated_at"]


class PolicyViewSet(TenantEndpoint):
    """The tenant's registration policy (one object)."""

    api_area = "clients"
    serializer_class = PolicySerializer

    def list(self, request):
        return Response(PolicySerializer(policy_of(self.tenant)).data)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer)
    def partial_update_policy(self, request):
        data = PolicySerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        secret = changes.pop("webhook_secret", None)
        policy = services.policy_update(tenant=self.tenant, actor=self.get_actor(), request=request,
                                        webhook_secret=secret, **changes)
        return Response(PolicySerializer(policy).data)


class RuleSerializer(strict.ModelSerializer):
    class Meta:
        model = ApprovalRule
        fields = ["id", "position", "kind", "pattern", "enabled", "created_at"]
        read_only_fields = ["id", "enabled", "created_at"]


class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Automatic-approval rules, evaluated by ``position``."""

    api_area = "clients"
    serializer_class = RuleSerializer

    def get_queryset(self):
        return ApprovalRule.objects.for_tenant(self.tenant)

    def create(self, request):
        data = RuleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_create(tenant=self.tenant, actor=self.get_actor(), request=request,
                                    kind=data.validated_data["kind"], pattern=data.validated_data.get("pattern", ""),
                                    position=data.validated_data.get("position"))
        return Response(RuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.rule_delete(rule=self.get_object(), actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InitialAccessTokenSerializer(strict.ModelSerializer):
    days = serializers.IntegerField(write_only=True, min_value=1, max_value=365, default=7)
    token = serializers.CharField(read_only=True, help_text="Shown once, in the creation response.")

    class Meta:
        model = InitialAccessToken
        fields = ["id", "label", "days", "max_uses", "uses", "expires_at", "revoked_at", "created_by", "created_at",
                  "token"]
        read_only_fields = ["id", "uses", "expires_at", "revoked_at", "created_by", "created_at", "token"]


class InitialAccessTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Initial access tokens that let software register by DCR (also when DCR is closed)."""

    api_area = "clients"
    serializer_class = InitialAccessTokenSerializer

    def get_queryset(self):
        return InitialAccessToken.objects.for_tenant(self.tenant)

    def create(self, request):
        data = InitialAccessTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row, token = services.initial_access_token_create(
            tenant=self.tenant, actor=self.get_actor(), request=request, label=data.validated_data["label"],
            days=data.validated_data["days"], max_uses=data.validated_data.get("max_uses", 1))
        body = InitialAccessTokenSerializer(row).data
        body["token"] = token
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=InitialAccessTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        row = services.initial_access_token_revoke(row=self.get_object(), actor=self.get_actor(), request=request)
        return Response(InitialAccessTokenSerializer(row).data)


class PublisherSerializer(strict.ModelSerializer):
    class Meta:
        model = TrustedPublisher
        fields = ["id", "name", "issuer", "jwks", "created_at"]
        read_only_fields = ["id", "created_at"]


class PublisherViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Publishers whose signed software statements (RFC 7591 §2.3) the tenant trusts."""

    api_area = "clients"
    serializer_class = PublisherSerializer

    def get_queryset(self):
        return TrustedPublisher.objects.for_tenant(self.tenant)

    def create(self, request):
        data = PublisherSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        publisher = services.publisher_create(tenant=self.tenant, actor=self.get_actor(), request=request,
                                              **data.validated_data)
        return Response(PublisherSerializer(publisher).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.publisher_delete(publisher=self.get_object(), actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
