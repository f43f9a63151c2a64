"""Bearer-token errors (RFC 6750 §3.1) and the WWW-Authenticate challenges that carry them."""

from __future__ import annotations


class GuardError(Exception):
    """Misconfiguration or an unreachable issuer: a problem of the server, not of the caller's token."""


class TokenError(Exception):
    """The token is refused. ``error`` is the RFC 6750 code, ``status`` the HTTP status to answer."""

    def __init__(self, description: str, *, error: str = "invalid_token", status: int = 401,
                 scopes: tuple[str, ...] = ()):
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status
        self.scopes = scopes


def _quoted(value: str) -> str:
    # RFC 6750 §3: auth-param values are quoted strings; keep them printable and unambiguous.
    cleaned = "".join(ch for ch in value if 0x20 <= ord(ch) < 0x7F and ch not in '"\\')
    return f'"{cleaned}"'


def challenge(*, resource_metadata: str | None, scopes=(), error: str | None = None,
              description: str | None = None) -> str:
    """``Bearer resource_metadata="...", scope="...", error="...", error_description="..."``"""
    params = []
    if error:
        params.append(f"error={_quoted(error)}")
    if description:
        params.append(f"error_description={_quoted(description[:200])}")
    if scopes:
        params.append(f"scope={_quoted(' '.join(scopes))}")
    if resource_metadata:
        params.append(f"resource_metadata={_quoted(resource_metadata)}")
    return "Bearer " + ", ".join(params) if params else "Bearer"
