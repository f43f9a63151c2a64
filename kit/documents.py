"""Public JSON documents (JWKS, authorization server metadata, PRM) as bytes rendered once, with a strong
ETag, and the one answer both the Django views and the fast dispatch in front of Django
(mcp_platform/documents.py) build from them, so the two cannot drift apart."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    body: bytes
    etag: str
    max_age: int  # seconds a client or cache may keep it (Cache-Control)


def render(document: dict, *, max_age: int) -> Document:
    """A stable byte form (sorted keys, no spaces), so the ETag changes exactly when the content does."""
    body = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return Document(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', max_age)


def not_modified(etag: str, if_none_match: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison, any of a list, or ``*``."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


def answer(document: Document, if_none_match: str = "") -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a GET: 200 with the bytes, or 304 with the same validators."""
    headers = [
        ("ETag", document.etag),
        ("Cache-Control", f"public, max-age={document.max_age}"),
        ("Access-Control-Allow-Origin", "*"),  # browser-based MCP clients fetch these cross-origin
    ]
    if not_modified(document.etag, if_none_match):
        return 304, headers, b""
    return 200, [("Content-Type", "application/json"), *headers], document.body


def django_response(request, document: Document):
    from django.http import HttpResponse

    status, headers, body = answer(document, request.headers.get("If-None-Match", ""))
    response = HttpResponse(body, status=status)
    del response["Content-Type"]  # a 304 has none; a 200 sets application/json below
    for name, value in headers:
        response[name] = value
    return response
