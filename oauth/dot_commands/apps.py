from django.apps import AppConfig


class DOTCommandsConfig(AppConfig):
    name = "oauth.dot_commands"
    label = "dot_commands"
    verbose_name = "django-oauth-toolkit's tenant-blind commands, refused"
