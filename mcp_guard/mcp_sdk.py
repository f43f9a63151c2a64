"""The MCP Python SDK's ``TokenVerifier`` protocol, backed by mcp_guard (``mcp`` is imported lazily).

One line protects an ``MCPServer`` (FastMCP in SDK 1.x) with the SDK's own bearer middleware::

    mcp = MCPServer("files", **sdk_auth("https://auth.example.com/t/acme/resources/<id>/protected-resource-metadata"))

The SDK then serves the PRM and answers 401 itself, and checks one set of scopes for every request. For
per-tool scopes (403 ``insufficient_scope`` on ``tools/call``) wrap the app with ``mcp_guard.protect``
instead.
"""

from __future__ import annotations

from .errors import GuardError, TokenError
from .resource import ResourceConfig
from .verifier import TokenVerifier


class SdkTokenVerifier:
    """Implements ``mcp.server.auth.provider.TokenVerifier`` (``async verify_token(token)``)."""

    def __init__(self, verifier):
        self.verifier = verifier

    async def verify_token(self, token: str):
        from mcp.server.auth.provider import AccessToken

        try:
            verified = await self.verifier.verify(token)
        except (TokenError, GuardError):
            return None  # the SDK answers 401 invalid_token
        return AccessToken(token=token, client_id=verified.client_id or "", scopes=sorted(verified.scopes),
                           expires_at=verified.expires_at, resource=self.verifier.resource,
                           subject=verified.subject, claims={"iss": verified.issuer})


def sdk_auth(config_or_url, *, required_scopes=None, verifier=None) -> dict:
    """``token_verifier`` and ``auth`` arguments for ``MCPServer(...)`` from the platform's metadata URL
    (read once, now) or a ``ResourceConfig``."""
    from mcp.server.auth.settings import AuthSettings

    config = config_or_url if isinstance(config_or_url, ResourceConfig) else ResourceConfig.fetch(config_or_url)
    verifier = verifier or TokenVerifier(issuer=config.issuer, resource=config.resource)
    settings = AuthSettings(
        issuer_url=config.issuer,
        resource_server_url=config.resource,
        required_scopes=list(config.challenge_scopes if required_scopes is None else required_scopes),
        service_documentation_url=config.metadata.get("resource_documentation"),
        # mcp_guard already refuses tokens whose aud is not this resource; the SDK checks it again.
        validate_token_resource=True,
    )
    return {"token_verifier": SdkTokenVerifier(verifier), "auth": settings}
