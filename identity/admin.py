from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from audit.admin import ReadOnlyAdmin

from .models import FederatedIdentity, IdentityProvider, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("email",)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined")
    search_fields = ("email", "name")
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)

    def save_model(self, request, obj, form, change):
        obj._changed_by = request.user  # the actor of account.deactivated (identity/receivers.py)
        super().save_model(request, obj, form, change)


@admin.register(IdentityProvider)
class IdentityProviderAdmin(ReadOnlyAdmin):
    list_display = ("name", "slug", "tenant", "preset", "issuer", "enabled", "sso_required")
    list_filter = ("preset", "enabled", "sso_required")
    search_fields = ("name", "slug", "tenant__slug", "issuer")
    exclude = ("client_secret_encrypted", "private_key_encrypted")

    def get_queryset(self, request):
        return IdentityProvider.objects.unscoped().select_related("tenant")


@admin.register(FederatedIdentity)
class FederatedIdentityAdmin(ReadOnlyAdmin):
    list_display = ("email", "subject", "identity_provider", "tenant", "last_sign_in_at")
    search_fields = ("email", "subject", "user__email")

    def get_queryset(self, request):
        return FederatedIdentity.objects.unscoped().select_related("tenant", "identity_provider", "user")
