from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "oauth"
    label = "oauth"
    verbose_name = "Authorization server"
    default_auto_field = "django.db.models.BigAutoField"

    def import_models(self):
        super().import_models()
        # Models of this app kept beside the code that uses them; imported here, while Django loads every
        # app's models, so oauth/models.py need not import its sub-packages (which import it).
        from .registration import models  # noqa: F401  (registration's policy, rules, registrations, ...)
        from .signing import policy  # noqa: F401  (KeyRotationPolicy)

    def ready(self):
        from .grants import receivers as grant_receivers  # noqa: F401  (a member who leaves loses their tokens)
        from .protocol import cache  # noqa: F401  (invalidates the token path's cached clients and resources)
        from .registration import receivers as registration_receivers  # noqa: F401  (discovery fields)
        from .signing import receivers as signing_receivers  # noqa: F401  (a new tenant's first key)
