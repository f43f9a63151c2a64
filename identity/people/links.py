"""The secret of an e-mailed link: ``<row id hex>.<secret>``; the row keeps only the secret's keyed digest."""

from __future__ import annotations

import uuid

from kit import crypto


def new_secret() -> tuple[str, str]:
    """(secret, digest): the secret goes into the mail, the digest into the row."""
    secret = crypto.generate_secret()
    return secret, crypto.secret_digest(secret)


def token_for(row_id, secret: str) -> str:
    return f"{uuid.UUID(str(row_id)).hex}.{secret}"


def parse(token: str) -> tuple[uuid.UUID, str] | None:
    """(row id, secret), or None for anything that is not shaped like one of our links."""
    row_id, sep, secret = (token or "").partition(".")
    if not sep or not secret or len(token) > 200:
        return None
    try:
        return uuid.UUID(hex=row_id), secret
    except ValueError:
        return None


def matches(secret: str, digest: str) -> bool:
    return bool(digest) and crypto.secret_matches(secret, digest)
