"""Kept for tests written before the builders moved: new tests import the builders from tests/factories.py
and the flow drivers from tests/oauth/flows.py."""

from tests.factories import ACTOR, REDIRECT_URI, make_agent, make_client, make_resource  # noqa: F401
from tests.oauth.flows import (  # noqa: F401
    Authorization,
    authorize,
    authorize_url,
    basic,
    client_credentials,
    exchange,
    pkce_pair,
    query_of,
    refresh,
)
