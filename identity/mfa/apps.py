from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "identity.mfa"
    label = "identity_mfa"
    verbose_name = "Multi-factor authentication"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from kit import stepup

        from . import flow, receivers  # noqa: F401  (receivers: sign-ins through providers)

        stepup.provide(flow.step_up_challenge_url)
