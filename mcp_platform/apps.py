from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "mcp_platform"
    verbose_name = "Platform"
