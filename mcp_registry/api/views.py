import shlex

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from mcp_registry import importer, prm, selectors, services
from mcp_registry.models import MCPResource
from mcp_registry.views import guard_snippet
from tenants.api.base import TenantEndpoint

from .serializers import (
    GatewayIdentitySecretSerializer,
    ImportApplySerializer,
    ImportRequestSerializer,
    ManagementTokenSerializer,
    PRMPreviewSerializer,
    ResourceSerializer,
    ResourceUpdateSerializer,
    ScopeSerializer,
    ToolSerializer,
)


class ResourceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """MCP resources (protected resources) of the caller's tenant, with their scopes and tools."""

    api_area = "resources"
    serializer_class = ResourceSerializer
    error_statuses = {"tools_import": (503,)}  # the MCP SDK the import needs is not installed
    queryset = MCPResource.objects.none()  # the real one is get_queryset(); this one types the id for OpenAPI

    def get_queryset(self):
        params = self.request.query_params
        return (selectors.resources_of(self.tenant, search=params.get("search", ""), status=params.get("status", ""))
                .prefetch_related("scopes", "tools__required_scopes"))

    def _reload(self, resource):
        return self.get_queryset().get(pk=resource.pk)

    @extend_schema(request=ResourceSerializer, responses={201: ResourceSerializer})
    def create(self, request):
        data = ResourceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        resource = services.resource_create(tenant=self.tenant, actor=self.get_actor(), request=request,
                                            **data.validated_data)
        return Response(ResourceSerializer(self._reload(resource)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ResourceUpdateSerializer, responses=ResourceSerializer)
    def partial_update(self, request, pk=None):
        data = ResourceUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        resource = services.resource_update(resource=self.get_object(), actor=self.get_actor(), request=request,
                                            **data.validated_data)
        return Response(ResourceSerializer(self._reload(resource)).data)

    def destroy(self, request, pk=None):
        services.resource_delete(resource=self.get_object(), actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=ResourceSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        resource = services.resource_disable(resource=self.get_object(), actor=self.get_actor(), request=request)
        return Response(ResourceSerializer(self._reload(resource)).data)

    @extend_schema(request=None, responses=ResourceSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        resource = services.resource_enable(resource=self.get_object(), actor=self.get_actor(), request=request)
        return Response(ResourceSerializer(self._reload(resource)).data)

    @extend_schema(request=None, responses=ResourceSerializer,
                   description="Fetches the server's PRM and checks it names this resource and the tenant's issuer.")
    @action(detail=True, methods=["post"])
    def verify(self, request, pk=None):
        resource = services.resource_verify(resource=self.get_object(), actor=self.get_actor(), request=request)
        return Response(ResourceSerializer(self._reload(resource)).data)

    @extend_schema(responses=PRMPreviewSerializer, description="The exact PRM document and how to fetch it.")
    @action(detail=True, methods=["get"])
    def prm(self, request, pk=None):
        resource = self.get_object()
        url = prm.well_known_url(resource.uri) if resource.is_gateway else prm.mirror_url(resource)
        return Response({"url": url, "well_known_url": prm.well_known_url(resource.uri),
                         "curl": f"curl -s {shlex.quote(url)}", "document": prm.prm_document(resource),
                         "snippet": guard_snippet(resource)})

    @extend_schema(request=ManagementTokenSerializer, responses={204: None})
    @action(detail=True, methods=["put"], url_path="management-token")
    def management_token(self, request, pk=None):
        data = ManagementTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.resource_set_management_token(resource=self.get_object(), actor=self.get_actor(), request=request,
                                               token=data.validated_data["token"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=GatewayIdentitySecretSerializer, responses={204: None},
                   description="Gateway resources: the secret that signs the X-MCP-Identity assertion sent "
                               "upstream (empty clears it). Never shown again.")
    @action(detail=True, methods=["put"], url_path="gateway-identity-secret")
    def gateway_identity_secret(self, request, pk=None):
        data = GatewayIdentitySecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.resource_set_gateway_identity_secret(resource=self.get_object(), actor=self.get_actor(),
                                                      request=request, secret=data.validated_data["secret"])
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- scopes and tools -------------------------------------------------------------------------

    @extend_schema(methods=["get"], responses=ScopeSerializer(many=True))
    @extend_schema(methods=["post"], request=ScopeSerializer, responses=ScopeSerializer)
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def scopes(self, request, pk=None):
        resource = self.get_object()
        if request.method == "GET":
            return Response(ScopeSerializer(selectors.scopes_of(resource), many=True).data)
        data = ScopeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scope = services.scope_save(resource=resource, actor=self.get_actor(), request=request, **data.validated_data)
        return Response(ScopeSerializer(scope).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"scopes/(?P<scope_name>[^/]+)")
    def scope_delete(self, request, pk=None, scope_name=None):
        resource = self.get_object()
        scope = resource.scopes.filter(name=scope_name).first()
        if scope is None:
            raise NotFound(f"resource '{resource.name}' has no scope '{scope_name}'")
        services.scope_delete(scope=scope, actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["get"], responses=ToolSerializer(many=True))
    @extend_schema(methods=["post"], request=ToolSerializer, responses=ToolSerializer)
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def tools(self, request, pk=None):
        resource = self.get_object()
        if request.method == "GET":
            return Response(ToolSerializer(selectors.tools_of(resource), many=True).data)
        data = ToolSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        tool = services.tool_save(resource=resource, actor=self.get_actor(), request=request, **data.validated_data)
        return Response(ToolSerializer(tool).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"tools/(?P<tool_name>[^/]+)")
    def tool_delete(self, request, pk=None, tool_name=None):
        resource = self.get_object()
        tool = resource.tools.filter(name=tool_name).first()
        if tool is None:
            raise NotFound(f"resource '{resource.name}' has no tool '{tool_name}'")
        services.tool_delete(tool=tool, actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ImportRequestSerializer, responses=OpenApiResponse(
        description="The diff between the registry and the server's tools/list, with proposed scopes."))
    @action(detail=True, methods=["post"], url_path="tool-import")
    def tools_import(self, request, pk=None):
        resource = self.get_object()
        data = ImportRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = importer.import_target(resource)
        try:
            listed = importer.list_server_tools(target, token=services.management_token(resource))
        except importer.SDKMissing as exc:
            raise services.RegistryError(str(exc), code="unavailable") from exc
        except importer.ImportFailed as exc:
            raise services.RegistryError(str(exc), code="server_unreachable",
                                         field="upstream_url" if resource.is_gateway else "uri") from exc
        proposal = importer.propose(resource, listed, strategy=data.validated_data["strategy"])
        proposal["apply"] = importer.proposal_to_apply(proposal)
        return Response(proposal)

    @extend_schema(request=ImportApplySerializer, responses=OpenApiResponse(description="The applied diff."))
    @action(detail=True, methods=["post"], url_path="tool-import/apply")
    def tools_import_apply(self, request, pk=None):
        data = ImportApplySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        diff = services.tools_apply_import(resource=self.get_object(), actor=self.get_actor(), request=request,
                                           **data.validated_data)
        return Response(diff)
