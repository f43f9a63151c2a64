"""mcp_guard's tests use the registry tests' fixtures: the document server that plays the issuer, resources
built through the services, uvicorn apps on free ports, and loopback egress allowed."""

from tests.mcp_registry.conftest import (  # noqa: F401  (fixtures, registered by being named here)
    document_server,
    loopback_servers_allowed,
    make_resource,
    no_persistent_db_connections,
    serve_asgi,
)
