"""Connected when the oauth app is ready: registration's fields in the tenant's discovery metadata."""

from ..endpoints.discovery import register_metadata_contributor
from .endpoints import discovery_fields

register_metadata_contributor(discovery_fields)
