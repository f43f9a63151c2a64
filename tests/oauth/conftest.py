import pytest

from tests.factories import make_client


@pytest.fixture
def public_client(world, resource):
    client, _ = make_client(world.tenant, resources=[resource], name="Claude Desktop")
    return client


@pytest.fixture
def member_http(signed_in, world):
    return signed_in(world.member)
