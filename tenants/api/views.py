from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from tenants import selectors, services
from tenants.models import Tenant

from .base import TenantEndpoint
from .serializers import (
    MembershipRoleSerializer,
    MembershipSerializer,
    SuspendSerializer,
    TenantSerializer,
    TenantUpdateSerializer,
)


class IsPlatformStaff(permissions.BasePermission):
    message = "only platform operators manage tenants"

    def has_permission(self, request, view):
        return selectors.is_operator(request.user)


class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Platform operators: every tenant. Looked up by slug."""

    permission_classes = [IsPlatformStaff]
    serializer_class = TenantSerializer
    lookup_field = "slug"
    queryset = Tenant.objects.none()

    def get_queryset(self):
        return selectors.tenants_for_platform(search=self.request.query_params.get("search", ""))

    @extend_schema(request=TenantSerializer, responses={201: TenantSerializer})
    def create(self, request):
        data = TenantSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_create(actor=request.user, request=request, **data.validated_data)
        return Response(TenantSerializer(tenant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TenantUpdateSerializer, responses=TenantSerializer)
    def partial_update(self, request, slug=None):
        tenant = self.get_object()
        data = TenantUpdateSerializer(tenant, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_update(tenant=tenant, actor=request.user, request=request, **data.validated_data)
        return Response(TenantSerializer(tenant).data)

    @extend_schema(request=SuspendSerializer, responses=TenantSerializer)
    @action(detail=True, methods=["post"])
    def suspend(self, request, slug=None):
        data = SuspendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_suspend(tenant=self.get_object(), actor=request.user, request=request,
                                         reason=data.validated_data["reason"])
        return Response(TenantSerializer(tenant).data)

    @extend_schema(request=None, responses=TenantSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, slug=None):
        tenant = services.tenant_reactivate(tenant=self.get_object(), actor=request.user, request=request)
        return Response(TenantSerializer(tenant).data)


class MemberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Members of the caller's tenant."""

    api_area = "members"
    serializer_class = MembershipSerializer

    def get_queryset(self):
        params = self.request.query_params
        return selectors.members_of(self.tenant, search=params.get("search", ""), role=params.get("role", ""))

    @extend_schema(request=MembershipSerializer, responses={201: MembershipSerializer})
    def create(self, request):
        data = MembershipSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_add(
            tenant=self.tenant, email=data.validated_data["user"]["email"], role=data.validated_data["role"],
            actor=self.get_actor(), actor_membership=request.authority, request=request)
        body = MembershipSerializer(membership).data
        # The name was set elsewhere (another tenant's provider, the person): adding an address must not
        # tell whether it already had an account. It shows in the member list once they sign in here.
        body["name"] = ""
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=MembershipRoleSerializer, responses=MembershipSerializer)
    def partial_update(self, request, pk=None):
        data = MembershipRoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            membership=self.get_object(), role=data.validated_data["role"], actor=self.get_actor(),
            actor_membership=request.authority, request=request)
        return Response(MembershipSerializer(membership).data)

    def destroy(self, request, pk=None):
        services.membership_remove(membership=self.get_object(), actor=self.get_actor(),
                                   actor_membership=request.authority, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
