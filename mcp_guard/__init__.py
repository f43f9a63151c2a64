"""mcp_guard: make an MCP server a protected resource of the MCP Auth Platform (or any OAuth 2.1
authorization server issuing RFC 9068 JWT access tokens).

Pure Python: PyJWT, cryptography and httpx; no Django. The MCP Python SDK is needed only by
``mcp_guard.mcp_sdk`` (imported lazily)::

    from mcp_guard import protect
    app = protect(mcp.streamable_http_app(), "https://auth.example.com/t/acme/resources/<id>/protected-resource-metadata")
"""

from .errors import GuardError, TokenError, challenge
from .middleware import TOKEN_SCOPE_KEY, GuardMiddleware, current_token, protect
from .resource import ResourceConfig, well_known_url
from .verifier import IntrospectionVerifier, TokenVerifier, VerifiedToken

__all__ = [
    "GuardError", "GuardMiddleware", "IntrospectionVerifier", "ResourceConfig", "TOKEN_SCOPE_KEY", "TokenError",
    "TokenVerifier", "VerifiedToken", "challenge", "current_token", "protect", "well_known_url",
]
