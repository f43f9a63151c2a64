from rest_framework import serializers

from identity.models import Invitation
from tenants.api import strict


class InvitationSerializer(strict.ModelSerializer):
    """An invitation as its tenant's admins see it; its link's secret is never shown (only e-mailed)."""

    status = serializers.CharField(read_only=True, help_text="pending, accepted, expired or revoked")

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "status", "invited_by", "created_at", "sent_at", "sends", "expires_at",
                  "accepted_at", "revoked_at"]
        read_only_fields = fields


class SessionsEndedSerializer(strict.Serializer):
    sessions_ended = serializers.IntegerField(read_only=True)
    tokens_revoked = serializers.IntegerField(read_only=True)
