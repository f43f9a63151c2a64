from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import selectors  # noqa: F401  (drops the cached tenant when a tenant row changes)
