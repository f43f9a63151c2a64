from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity and sign-in"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import receivers  # noqa: F401  (sign-in audit events)
        from .people import receivers as people_receivers  # noqa: F401  (invitations, tracked sessions)
