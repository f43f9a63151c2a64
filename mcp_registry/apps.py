from django.apps import AppConfig


class MCPRegistryConfig(AppConfig):
    name = "mcp_registry"
    verbose_name = "MCP resource registry"
    default_auto_field = "django.db.models.BigAutoField"
