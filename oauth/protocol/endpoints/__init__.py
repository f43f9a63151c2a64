"""HTTP endpoints of the tenant's authorization server (protocol views and the user's consent pages)."""
