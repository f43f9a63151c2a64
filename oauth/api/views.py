"""The authorization server's admin API: clients, tokens and grants, signing keys, tenant settings.

Every endpoint is a ``TenantEndpoint``: the tenant comes from the caller's credential and every queryset
is filtered by it, so another tenant's client id, token id or key id is a 404. Writes go through the
services of ``oauth.clients``, ``oauth.grants``, ``oauth.signing`` and ``oauth.config`` (which audit in the
same transaction).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from oauth.clients import selectors as client_selectors
from oauth.clients import services as client_services
from oauth.config import services as config_services
from oauth.grants import selectors as grant_selectors
from oauth.grants import services as grant_services
from oauth.models import AccessToken, Consent
from oauth.signing import rotation
from oauth.signing import selectors as signing_selectors
from oauth.signing import services as signing_services
from tenants.api.base import TenantEndpoint
from tenants.api.errors import error_response
from tenants.api.pagination import CreatedCursorPagination
from tenants.selectors import member_by_email

from .serializers import (
    AccessTokenSerializer,
    AuthSettingsSerializer,
    ClientSerializer,
    ClientUpdateSerializer,
    GrantSerializer,
    KeyRotateSerializer,
    RevokedSerializer,
    SecretSerializer,
    SigningKeySerializer,
    SuspendSerializer,
    TokenRevokeSerializer,
)


class DotCreatedPagination(CreatedCursorPagination):
    """django-oauth-toolkit's models call their timestamp ``created``."""

    ordering = "-created"


class UpdatedPagination(CreatedCursorPagination):
    ordering = "-updated_at"


def _client_write_kwargs(validated: dict) -> dict:
    """Serializer names -> service keyword arguments."""
    mapping = {"allowed_scopes": "scopes", "resources": "allowed_resources"}
    return {mapping.get(key, key): value for key, value in validated.items()}


@extend_schema(parameters=[OpenApiParameter("search", str, description="Part of the name or client id"),
                           OpenApiParameter("status", str, description="approved, pending, rejected, suspended")])
class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """OAuth clients of the caller's tenant, by client id."""

    api_area = "clients"
    serializer_class = ClientSerializer
    pagination_class = DotCreatedPagination
    lookup_field = "client_id"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        params = self.request.query_params
        return client_selectors.clients_of(self.tenant, search=params.get("search", ""),
                                           status=params.get("status", ""))

    def _answer(self, client, http_status=status.HTTP_200_OK, secret: str | None = None):
        # fresh, with its resources; not through the list filters of the query string, which would lose a
        # client just created by POST /clients?status=... together with its only-shown-once secret
        client = client_selectors.clients_of(self.tenant).get(pk=client.pk)
        return Response(ClientSerializer(client, context={"client_secret": secret}).data, status=http_status)

    @extend_schema(request=ClientSerializer, responses={201: ClientSerializer},
                   description="Pre-registers a client. A confidential client's secret is in this response "
                               "only; the platform keeps a keyed digest.")
    def create(self, request):
        data = ClientSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client, secret = client_services.client_create(tenant=self.tenant, actor=self.get_actor(), request=request,
                                                       authority=request.authority,
                                                       **_client_write_kwargs(data.validated_data))
        return self._answer(client, status.HTTP_201_CREATED, secret)

    @extend_schema(request=ClientUpdateSerializer, responses=ClientSerializer)
    def partial_update(self, request, client_id=None):
        data = ClientUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        client = client_services.client_update(client=self.get_object(), actor=self.get_actor(), request=request,
                                               authority=request.authority, **_client_write_kwargs(data.validated_data))
        return self._answer(client)

    def destroy(self, request, client_id=None):
        client_services.client_delete(client=self.get_object(), actor=self.get_actor(), request=request,
                                      authority=request.authority)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=SecretSerializer,
                   description="A new secret, shown once; the previous one stops working immediately.")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, client_id=None):
        client = self.get_object()
        secret = client_services.client_rotate_secret(client=client, actor=self.get_actor(), request=request,
                                                      authority=request.authority)
        return Response({"client_id": client.client_id, "client_secret": secret})

    @extend_schema(request=SuspendSerializer, responses=ClientSerializer,
                   description="Suspends the client and revokes every token it holds.")
    @action(detail=True, methods=["post"])
    def suspend(self, request, client_id=None):
        data = SuspendSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = client_services.client_suspend(client=self.get_object(), actor=self.get_actor(), request=request,
                                                reason=data.validated_data["reason"], authority=request.authority)
        return self._answer(client)

    @extend_schema(request=None, responses=ClientSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, client_id=None):
        client = client_services.client_reactivate(client=self.get_object(), actor=self.get_actor(), request=request,
                                                   authority=request.authority)
        return self._answer(client)


_TOKEN_FILTERS = [OpenApiParameter("client_id", str), OpenApiParameter("user", str, description="User e-mail"),
                  OpenApiParameter("resource", str, description="Resource URI (the token's aud)")]


class _ByClientUserResource:
    """Query parameters ``client_id``, ``user`` and ``resource`` shared by the token and grant lists."""

    def filters(self) -> dict | None:
        """The filters, or None when they can match nothing (an unknown or another tenant's client id)."""
        params = self.request.query_params
        client = None
        if params.get("client_id"):
            client = client_selectors.client_by_id(self.tenant, params["client_id"])
            if client is None:
                return None
        return {"client": client, "user_email": params.get("user", "").strip(),
                "audience": params.get("resource", "").strip()}


@extend_schema(parameters=_TOKEN_FILTERS)
class TokenViewSet(_ByClientUserResource, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Live access tokens of the caller's tenant (metadata only: the platform stores no token values)."""

    api_area = "tokens"
    serializer_class = AccessTokenSerializer
    queryset = AccessToken.objects.none()  # for the schema; get_queryset scopes every request
    pagination_class = DotCreatedPagination

    def get_queryset(self):
        found = self.filters()
        if found is None:
            return grant_selectors.tokens_of(self.tenant).none()
        qs = grant_selectors.tokens_of(self.tenant, client=found["client"], audience=found["audience"])
        if found["user_email"]:
            qs = qs.filter(user__email__iexact=found["user_email"])
        return qs

    @extend_schema(responses={204: None}, description="Revokes this access token and its refresh token.")
    def destroy(self, request, pk=None):
        grant_services.token_revoke(token_row=self.get_object(), actor=self.get_actor(), request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=TokenRevokeSerializer, responses=RevokedSerializer,
                   description="Revokes every access and refresh token of a client, a user and/or a resource.")
    @action(detail=False, methods=["post"])
    def revoke(self, request):
        data = TokenRevokeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data
        client = user = None
        if "client_id" in wanted:
            client = client_selectors.client_by_id(self.tenant, wanted["client_id"])
            if client is None:
                return Response({"revoked": 0})
        if "user" in wanted:
            user = member_by_email(self.tenant, wanted["user"])
            if user is None:
                return Response({"revoked": 0})
        revoked = grant_services.tokens_revoke_for(tenant=self.tenant, client=client, user=user,
                                                   resource=wanted.get("resource"), actor=self.get_actor(),
                                                   request=request)
        return Response({"revoked": revoked})


@extend_schema(parameters=_TOKEN_FILTERS)
class GrantViewSet(_ByClientUserResource, mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """Users' remembered consents (which client may act for whom at which resource, with which scopes)."""

    api_area = "tokens"
    serializer_class = GrantSerializer
    queryset = Consent.objects.none()  # for the schema; get_queryset scopes every request
    pagination_class = UpdatedPagination

    def get_queryset(self):
        found = self.filters()
        if found is None:
            return grant_selectors.grants_of(self.tenant).none()
        return grant_selectors.grants_of(self.tenant, client=found["client"], user_email=found["user_email"],
                                         audience=found["audience"])

    @extend_schema(responses=RevokedSerializer,
                   description="Forgets the consent and revokes the tokens it led to.")
    def destroy(self, request, pk=None):
        revoked = grant_services.consent_revoke(consent=self.get_object(), actor=self.get_actor(), request=request)
        return Response({"revoked": revoked})


class SigningKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    """The tenant's signing keys as its JWKS publishes them (next, active, retired), by kid."""

    api_area = "keys"
    step_up = True
    serializer_class = SigningKeySerializer
    pagination_class = None
    lookup_field = "kid"
    lookup_value_regex = r"[^/]+"

    def get_queryset(self):
        return signing_selectors.signing_keys_of(self.tenant, include_removed=self.action != "list")

    @extend_schema(request=KeyRotateSerializer, responses=SigningKeySerializer,
                   description="Rotates now: the next key becomes active, the active one retires (still "
                               "published until its tokens expire), a new next key is published.")
    @action(detail=False, methods=["post"])
    def rotate(self, request):
        data = KeyRotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key = rotation.key_rotate_now(tenant=self.tenant, actor=self.get_actor(), request=request,
                                      alg=data.validated_data.get("alg"),
                                      expected_kid=data.validated_data.get("expected_kid"))
        if key is None:
            return error_response("conflict", f"the active key is no longer {data.validated_data['expected_kid']}: "
                                  "another rotation happened meanwhile and nothing was rotated; read the keys "
                                  "again and retry if you still want to", 409)
        return Response(SigningKeySerializer(key).data)

    @extend_schema(request=None, responses=SigningKeySerializer,
                   description="Takes a retired key out of the JWKS: tokens it signed stop verifying.")
    @action(detail=True, methods=["post"])
    def remove(self, request, kid=None):
        key = signing_services.key_remove(key=self.get_object(), actor=self.get_actor(), request=request)
        return Response(SigningKeySerializer(key).data)


class AuthSettingsViewSet(TenantEndpoint):
    """The tenant's authorization server settings: token lifetimes and the algorithm of new keys."""

    api_area = "settings"
    serializer_class = AuthSettingsSerializer

    def retrieve(self, request):
        return Response(AuthSettingsSerializer(config_services.tenant_auth_settings(self.tenant)).data)

    @extend_schema(request=AuthSettingsSerializer, responses=AuthSettingsSerializer)
    def partial_update(self, request):
        data = AuthSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        current = config_services.tenant_auth_settings_update(tenant=self.tenant, actor=self.get_actor(),
                                                              request=request, **data.validated_data)
        return Response(AuthSettingsSerializer(current).data)
