from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "Authorization server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import (
            cache,  # noqa: F401  (invalidates the token path's cached clients and resources)
            receivers,  # noqa: F401  (connects the signal receivers)
        )
        from .registration import receivers as registration_receivers  # noqa: F401  (discovery fields)
