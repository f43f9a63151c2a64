"""Who acts on a tenant, for the role rules (tenants.services, oauth.clients.services).

A person acts with their membership's role. A management client acts with the role of whoever created
it, recorded on the client (``Application.creator_role``), and only within the admin scopes its token
holds: authority never grows by going through a token or a client. Platform operators and the platform
itself (commands, jobs, provisioning) pass no Authority.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Role

ROLE_RANK = {Role.MEMBER: 0, Role.AUDITOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


def rank(role: str) -> int:
    return ROLE_RANK.get(role, 0)


@dataclass(frozen=True)
class Authority:
    role: str
    scopes: frozenset | None = None  # a token's admin scopes; None for a person (their role decides)
    client_pk: int | None = None     # the management client acting, if any

    @classmethod
    def of(cls, membership) -> Authority | None:
        return None if membership is None else cls(role=membership.role)

    @property
    def is_token(self) -> bool:
        return self.scopes is not None

    def holds(self, scope: str) -> bool:
        """``admin:x`` covers ``admin:x.read`` (the API's rule for tokens, tenants.api.base)."""
        if self.scopes is None:
            return True
        return scope in self.scopes or (scope.endswith(".read") and scope[: -len(".read")] in self.scopes)

    def outranked_by(self, role: str) -> bool:
        return rank(role) > rank(self.role)
