"""The error every oauth service raises when it refuses a change."""

from kit.errors import ApplicationError


class OAuthServiceError(ApplicationError):
    """A client, token or key change was refused; the message says what to do instead."""
