from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from kit.errors import ApplicationError
from tenants import selectors, services
from tenants.models import Tenant

from .base import TenantEndpoint
from .errors import error_response
from .serializers import (
    BrandingSerializer,
    CustomDomainSerializer,
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
    step_up = True
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
            actor=self.get_actor(), actor_membership=request.authority, request=request, invite=True)
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


class OwnTenantViewSet(TenantEndpoint):
    """The caller's tenant: name and branding (``GET``/``PATCH /tenant``)."""

    api_area = "settings"
    serializer_class = BrandingSerializer

    def retrieve(self, request):
        return Response(BrandingSerializer(self.tenant).data)

    @extend_schema(request=BrandingSerializer, responses=BrandingSerializer)
    def partial_update(self, request):
        data = BrandingSerializer(self.tenant, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        tenant = services.tenant_update(tenant=self._fresh(), actor=self.get_actor(), request=request,
                                        **data.validated_data)
        return Response(BrandingSerializer(tenant).data)

    def _fresh(self) -> Tenant:
        return Tenant.objects.get(pk=self.tenant.pk)  # request.tenant may be a cached copy (kit/tenant_cache.py)


class CustomDomainViewSet(OwnTenantViewSet):
    """The caller's custom domain: claim one (``PUT``), see the TXT record to create, verify it now, remove it."""

    serializer_class = CustomDomainSerializer

    def _domain_or_404(self):
        tenant = self._fresh()
        if not tenant.custom_domain:
            return tenant, error_response("not_found", "this tenant has no custom domain; PUT one first", 404)
        return tenant, None

    @extend_schema(responses={200: CustomDomainSerializer})
    def retrieve(self, request):
        tenant, missing = self._domain_or_404()
        return missing or Response(CustomDomainSerializer(tenant).data)

    @extend_schema(request=CustomDomainSerializer, responses=CustomDomainSerializer)
    def update(self, request):
        data = CustomDomainSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tenant = services.custom_domain_add(tenant=self._fresh(), domain=data.validated_data["custom_domain"],
                                                actor=self.get_actor(), request=request)
        except ApplicationError as exc:  # named after this endpoint's field, not the model's
            return error_response(exc.code, str(exc), 400, {"domain": [str(exc)]})
        return Response(CustomDomainSerializer(tenant).data)

    @extend_schema(request=None, responses=CustomDomainSerializer,
                   description="Looks the TXT record up now: 200 once verified, 409 with the reason if not.")
    def verify(self, request):
        tenant, missing = self._domain_or_404()
        if missing:
            return missing
        check = services.custom_domain_verify(tenant=tenant, actor=self.get_actor(), request=request)
        if not check.found:
            return error_response("domain_not_verified", check.reason, 409)
        return Response(CustomDomainSerializer(tenant).data)

    def destroy(self, request):
        tenant, missing = self._domain_or_404()
        if missing:
            return missing
        services.custom_domain_remove(tenant=tenant, actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
