"""Actors that are not model instances (the system, a job, an anonymous caller), without Django, so that
``import audit`` offers them before the app registry is ready."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """An actor that is not a model instance: the system, a job, an anonymous caller."""

    type: str
    id: str = ""
    label: str = ""


SYSTEM = Actor("system", "", "system")


def describe_actor(actor) -> tuple[str, str, str]:
    """``(type, id, label)`` of whoever acts, as an audit event records it: an ``Actor``, None or an anonymous
    user, an OAuth client, a user, or any model instance."""
    if isinstance(actor, Actor):
        return actor.type, actor.id, actor.label
    if actor is None or getattr(actor, "is_anonymous", False):
        return "anonymous", "", ""
    if hasattr(actor, "client_id") and hasattr(actor, "tenant_id"):  # an OAuth client
        client_id = getattr(actor, "public_client_id", None) or actor.client_id  # a CIMD client is its URL
        return "client", str(client_id), getattr(actor, "name", "") or str(client_id)
    if hasattr(actor, "get_username"):
        return "user", str(actor.pk), actor.get_username()
    return actor.__class__.__name__.lower(), str(getattr(actor, "pk", "")), str(actor)[:255]
