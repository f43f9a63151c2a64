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
