from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class PlatformConfig(AppConfig):
    name = "mcp_platform"
    verbose_name = "Platform"
    default = True


class PlatformAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the operators-only site of mcp_platform/admin.py."""

    default = False
    default_site = "mcp_platform.admin.PlatformAdminSite"
