"""Signals for apps above `tenants` (ARCHITECTURE §1: lower apps never import higher ones).

tenant_created is sent inside the creating transaction: receivers (e.g. oauth creating the first
signing key) either all succeed with the tenant or roll back with it.
"""

from django.dispatch import Signal

tenant_created = Signal()  # sender=Tenant, tenant=..., actor=...
tenant_suspended = Signal()  # sender=Tenant, tenant=..., actor=..., request=...
membership_added = Signal()  # sender=Membership, membership=..., actor=..., request=..., invite=bool
membership_removed = Signal()  # sender=Membership, tenant=..., user=..., actor=..., request=...
# Both are sent inside the changing transaction: oauth ends the tokens and consents, identity the
# sessions bound to the tenant, or the change rolls back with them.
# membership_added too: with invite=True identity e-mails the new member an invitation (tenants cannot
# import identity, which sits above it).
