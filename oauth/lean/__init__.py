"""The lean protocol path: machine traffic answered without Django's request cycle and without oauthlib.

``client_credentials`` at the token endpoint, RFC 7662 introspection and RFC 7009 revocation, for a tenant
named in the path (``/t/<slug>/token|introspect|revoke``), are answered here when, and only when, the
answer is a success that DOT/oauthlib (the reference implementation, oauth/protocol/validators.py and
oauth/protocol/endpoints/) would give too: the form parsed once, the client authenticated from the per-process
copies (oauth/protocol/cache.py, constant-time secret comparison, kit/crypto.py), the target decided by the same
oauth/protocol/targets.py, the token signed and its row written by one statement compiled once and bound on the
server (kit/db.py) *before* the answer is sent, and the tenant's generation read in the same Redis
round trip as the rate-limit counter (kit/tenant_cache.py ``generation_pipelined``).

Everything else returns None and Django answers it exactly as before: every error (bad or missing
credentials, unknown client or resource, a suspended tenant, invalid scope...), every request shape this
module does not parse the same way (another content type, a query string, a repeated or unknown
parameter, a cookie, DPoP, client assertions, CIMD client ids, Basic and form credentials together, a
refresh token or a hint naming one), and every interactive grant. Nothing here is a second opinion on a
refusal: it can only agree with a success or step aside. tests/oauth/test_lean_differential.py sends a
corpus and hypothesis-generated hostile requests through both and compares status, error, headers and
claims; tests/oauth/test_lean_crash.py kills a server mid-load and finds every token it answered.

mcp_platform/protocol.py is the ASGI dispatch in front of Django (switch: ``LEAN_PROTOCOL_PATH``).
"""
