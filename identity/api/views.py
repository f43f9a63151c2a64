"""SSO in the REST API: the caller's tenant's identity providers and the identities linked through them."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from identity import selectors, services
from identity.models import FederatedIdentity, IdentityProvider
from tenants.api.base import TenantEndpoint

from .serializers import FederatedIdentitySerializer, IdentityProviderSerializer, IdentityProviderUpdateSerializer


class IdentityProviderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    api_area = "identity"
    step_up = True
    serializer_class = IdentityProviderSerializer
    queryset = IdentityProvider.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return selectors.identity_providers_of(self.tenant)

    @extend_schema(request=IdentityProviderSerializer, responses={201: IdentityProviderSerializer})
    def create(self, request):
        data = IdentityProviderSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        idp = services.identity_provider_create(
            tenant=self.tenant, actor=self.get_actor(), request=request, name=fields.pop("name"),
            slug=fields.pop("slug"), preset=fields.pop("preset", "generic"), address=fields.pop("address", ""),
            client_secret=fields.pop("client_secret", ""), **fields)
        return Response(IdentityProviderSerializer(idp).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=IdentityProviderUpdateSerializer, responses=IdentityProviderSerializer)
    def partial_update(self, request, pk=None):
        idp = self.get_object()
        data = IdentityProviderUpdateSerializer(idp, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.pop("address", None)
        idp = services.identity_provider_update(identity_provider=idp, actor=self.get_actor(), request=request,
                                                client_secret=fields.pop("client_secret", None) or None, **fields)
        return Response(IdentityProviderSerializer(idp).data)

    @extend_schema(request=None, responses=IdentityProviderSerializer)
    @action(detail=True, methods=["post"], url_path="test-connection")
    def test_connection(self, request, pk=None):
        """Fetches discovery and keys now; the result is in `last_test`."""
        idp = services.identity_provider_test_connection(identity_provider=self.get_object(), actor=self.get_actor(),
                                                         request=request)
        return Response(IdentityProviderSerializer(idp).data)

    @extend_schema(request=None, responses=IdentityProviderSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        idp = services.identity_provider_set_enabled(identity_provider=self.get_object(), enabled=False,
                                                     actor=self.get_actor(), request=request)
        return Response(IdentityProviderSerializer(idp).data)

    @extend_schema(request=None, responses=IdentityProviderSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        idp = services.identity_provider_set_enabled(identity_provider=self.get_object(), enabled=True,
                                                     actor=self.get_actor(), request=request)
        return Response(IdentityProviderSerializer(idp).data)


class FederatedIdentityViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin,
                               TenantEndpoint):
    """Who signed in through which provider; deleting one unlinks it (the next sign-in is a new identity)."""

    api_area = "identity"
    serializer_class = FederatedIdentitySerializer
    queryset = FederatedIdentity.objects.none()  # for the schema; requests use get_queryset

    @extend_schema(parameters=[OpenApiParameter("user", description="the person's e-mail"),
                               OpenApiParameter("identity_provider", description="a provider's slug")])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        idp = None
        if params.get("identity_provider"):
            idp = selectors.identity_provider_by_slug(self.tenant, params["identity_provider"])
            if idp is None:
                return selectors.federated_identities_of(self.tenant).none()
        return selectors.federated_identities_of(self.tenant, identity_provider=idp, user_email=params.get("user", ""))

    def perform_destroy(self, instance):
        services.federated_identity_unlink(identity=instance, actor=self.get_actor(), request=self.request)
