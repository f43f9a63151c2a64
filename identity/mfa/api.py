"""The tenant's MFA policy in the REST API (``/api/v1/mfa-policy``): the console page's one setting."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from tenants.api import strict
from tenants.api.base import TenantEndpoint

from . import selectors, services
from .models import Rule


class MfaPolicySerializer(strict.Serializer):
    rule = serializers.ChoiceField(choices=Rule.choices,
                                   help_text="off: optional; admins: required for owners and admins; "
                                             "everyone: required for every member")


class MfaPolicyViewSet(TenantEndpoint):
    """Who at the caller's tenant must have a second factor (one object). Changing it is a sensitive
    action: a person needs a fresh second factor (step-up), as on the console page."""

    api_area = "identity"
    step_up = True
    serializer_class = MfaPolicySerializer

    def retrieve_policy(self, request):
        return Response(MfaPolicySerializer({"rule": selectors.rule_of(self.tenant)}).data)

    @extend_schema(request=MfaPolicySerializer, responses=MfaPolicySerializer)
    def update_policy(self, request):
        data = MfaPolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.policy_set(tenant=self.tenant, rule=data.validated_data["rule"], actor=self.get_actor(),
                                     request=request)
        return Response(MfaPolicySerializer({"rule": policy.rule}).data)
