"""Pending sign-ins, kept server-side in the session: state, nonce and PKCE verifier never reach the browser
except as the state value and the (hashed) challenge. Each is bound to its tenant and provider and is
taken exactly once."""

from __future__ import annotations

import time

from .oidc import new_flow_secrets

SESSION_KEY = "sso_flows"
MAX_PENDING = 5  # a few tabs at once; older attempts are dropped
FLOW_TTL_SECONDS = 600


def flow_begin(request, idp, *, next_url: str = "", test: bool = False) -> dict:
    flows = {k: v for k, v in request.session.get(SESSION_KEY, {}).items()
             if v.get("at", 0) > time.time() - FLOW_TTL_SECONDS}
    flow = {**new_flow_secrets(), "tenant": str(idp.tenant_id), "idp": str(idp.pk), "next": next_url,
            "test": test, "at": time.time()}
    flows[flow["state"]] = flow
    request.session[SESSION_KEY] = dict(sorted(flows.items(), key=lambda kv: kv[1]["at"])[-MAX_PENDING:])
    return flow


def flow_take(request, state: str, *, tenant, idp) -> dict | None:
    """The pending flow for ``state`` if it belongs to this tenant and provider and has not expired; it is
    removed either way, so a replayed response finds nothing."""
    flows = request.session.get(SESSION_KEY, {})
    flow = flows.pop(state or "", None)
    request.session[SESSION_KEY] = flows
    if flow is None or flow.get("at", 0) < time.time() - FLOW_TTL_SECONDS:
        return None
    if flow["tenant"] != str(tenant.pk) or flow["idp"] != str(idp.pk):
        return None
    return flow
