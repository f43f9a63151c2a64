"""What the protocol asks of client registration, without importing it.

Registration (oauth/registration/) stands on the protocol: it adds its fields to the discovery metadata
and answers for the clients it registered. The protocol reaches back only through these four calls, which
registration installs when the oauth app is ready (oauth/registration/receivers.py), as it adds its
discovery fields; so the two never import each other (the no-cycles contract in .importlinter).
"""

from __future__ import annotations

from collections.abc import Callable

_installed: dict[str, Callable] = {}
HOOKS = ("cimd_client", "fetch_document", "held_response", "trust_signals")


def install(*, cimd_client: Callable, fetch_document: Callable, held_response: Callable,
            trust_signals: Callable) -> None:
    _installed.update(cimd_client=cimd_client, fetch_document=fetch_document, held_response=held_response,
                      trust_signals=trust_signals)


def _hook(name: str) -> Callable:
    try:
        return _installed[name]
    except KeyError:
        raise RuntimeError(f"client registration did not install its '{name}' hook (oauth/apps.py ready())") \
            from None


def cimd_client(tenant, url: str, request=None):
    """The tenant's client named by a Client ID Metadata Document URL (fetched or re-validated), or None."""
    return _hook("cimd_client")(tenant, url, request)


def fetch_document(url: str):
    """A JSON document fetched through the egress guard, with its ``document`` and ``expires_at``; raises
    ``oauth2_provider.cimd.CIMDError`` (or ``ValueError``) when it cannot be had."""
    return _hook("fetch_document")(url)


def held_response(request, tenant, client_id):
    """The page for a client that exists but may not be used yet (pending, rejected, suspended), or None."""
    return _hook("held_response")(request, tenant, client_id)


def trust_signals(client, redirect_uri: str) -> dict:
    """What the consent page says about who the client is."""
    return _hook("trust_signals")(client, redirect_uri)
