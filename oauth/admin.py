"""Django admin for platform operators: read-mostly views; changes go through the console and API
(services), so secrets and keys are never editable here."""

from django.contrib import admin

from audit.admin import ReadOnlyAdmin

from .models import AccessToken, Application, Consent, Grant, IDToken, RefreshToken, SigningKey, TenantAuthSettings

# DOT registers its (swapped) models with admins that show and edit secrets; ours replace them.
for _model in (Application, AccessToken, RefreshToken, Grant, IDToken):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(Application)
class ApplicationAdmin(ReadOnlyAdmin):
    list_display = ("name", "client_id", "tenant", "client_type", "status", "grant_types", "created")
    list_filter = ("status", "client_type", "registration_source")
    search_fields = ("name", "client_id", "tenant__slug")
    exclude = ("client_secret",)


@admin.register(AccessToken)
class AccessTokenAdmin(ReadOnlyAdmin):
    list_display = ("jti", "tenant", "application", "user", "audience", "scope", "expires")
    search_fields = ("jti", "audience", "tenant__slug")
    exclude = ("token", "token_checksum")


@admin.register(RefreshToken)
class RefreshTokenAdmin(ReadOnlyAdmin):
    list_display = ("id", "tenant", "application", "user", "audience", "token_family", "revoked")
    exclude = ("token", "token_checksum")


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "tenant", "alg", "state", "created_at", "activated_at", "retired_at")
    list_filter = ("state", "alg")
    exclude = ("private_key",)


admin.site.register(Consent, ReadOnlyAdmin)
admin.site.register(TenantAuthSettings, ReadOnlyAdmin)
