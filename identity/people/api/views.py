"""People in the REST API: a tenant's invitations (list, resend, revoke; ``POST /members`` sends one) and
ending a member's sessions at the tenant."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from identity.models import Invitation
from tenants.api.base import TenantEndpoint
from tenants.models import Membership

from .. import selectors, services
from .serializers import InvitationSerializer, SessionsEndedSerializer


@extend_schema(parameters=[OpenApiParameter("status", str, enum=list(selectors.INVITATION_FILTERS),
                                            description="default: all"),
                           OpenApiParameter("search", str, description="part of the e-mail address")])
class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantEndpoint):
    api_area = "members"
    serializer_class = InvitationSerializer
    queryset = Invitation.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        params = self.request.query_params
        return selectors.invitations_of(self.tenant, status=params.get("status", "all"),
                                        search=params.get("search", ""))

    @extend_schema(request=None, responses=InvitationSerializer,
                   description="E-mails a new link with a new expiry; the previous link stops working.")
    @action(detail=True, methods=["post"])
    def resend(self, request, pk=None):
        invitation = services.invitation_resend(invitation=self.get_object(), actor=self.get_actor(), request=request)
        return Response(InvitationSerializer(invitation).data)

    @extend_schema(request=None, responses=InvitationSerializer,
                   description="The link stops working; the membership stays (DELETE /members/{id} removes it).")
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        invitation = services.invitation_revoke(invitation=self.get_object(), actor=self.get_actor(), request=request)
        return Response(InvitationSerializer(invitation).data)


class MemberSessionsViewSet(TenantEndpoint):
    """``POST /members/{id}/end-sessions``: the member's sessions that act at this tenant end, and their
    tokens here are revoked."""

    api_area = "members"
    serializer_class = SessionsEndedSerializer
    queryset = Membership.objects.none()

    def get_queryset(self):
        return Membership.objects.for_tenant(self.tenant).select_related("user")

    @extend_schema(request=None, responses=SessionsEndedSerializer)
    def end(self, request, pk=None):
        membership = self.get_object()
        ended = services.member_sessions_end(tenant=self.tenant, user=membership.user, actor=self.get_actor(),
                                             request=request)
        return Response(SessionsEndedSerializer(ended).data)
