"""Reads of invitations."""

from django.db.models import Q
from django.utils import timezone

from ..models import Invitation

INVITATION_FILTERS = ("pending", "accepted", "expired", "revoked", "all")


def invitations_of(tenant, *, status: str = "all", search: str = ""):
    qs = Invitation.objects.for_tenant(tenant).select_related("user")
    now = timezone.now()
    open_ = Q(accepted_at__isnull=True, revoked_at__isnull=True)
    qs = {"pending": qs.filter(open_, expires_at__gt=now),
          "accepted": qs.filter(accepted_at__isnull=False),
          "expired": qs.filter(open_, expires_at__lte=now),
          "revoked": qs.filter(accepted_at__isnull=True, revoked_at__isnull=False)}.get(status, qs)
    if search:
        qs = qs.filter(email__icontains=search.strip())
    return qs
