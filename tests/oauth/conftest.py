import pytest

from .factories import make_client, make_resource


@pytest.fixture
def world(make_world):
    return make_world("acme")


@pytest.fixture
def resource(world):
    return make_resource(world.tenant, "https://mcp.acme.example/mcp", name="files")


@pytest.fixture
def public_client(world, resource):
    client, _ = make_client(world.tenant, resources=[resource], name="Claude Desktop")
    return client


@pytest.fixture
def member_http(signed_in, world):
    return signed_in(world.member)
