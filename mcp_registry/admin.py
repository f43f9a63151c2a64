from django.contrib import admin

from audit.admin import ReadOnlyAdmin

from .models import MCPResource, ResourceScope, ResourceTool


class ResourceScopeInline(admin.TabularInline):
    model = ResourceScope
    extra = 0


@admin.register(MCPResource)
class MCPResourceAdmin(ReadOnlyAdmin):
    """Platform operators look; tenants change resources in the console or API (audited services)."""

    list_display = ("name", "tenant", "uri", "hosting_mode", "status", "verified_at")
    list_filter = ("hosting_mode", "status")
    search_fields = ("name", "uri", "tenant__slug")
    # The encrypted management token is never shown, not even as ciphertext.
    readonly_fields = [f.name for f in MCPResource._meta.fields if f.name != "management_token_encrypted"]
    exclude = ("management_token_encrypted",)
    inlines = [ResourceScopeInline]

    def get_queryset(self, request):
        return MCPResource.objects.unscoped().select_related("tenant")


@admin.register(ResourceTool)
class ResourceToolAdmin(ReadOnlyAdmin):
    list_display = ("name", "resource")
    search_fields = ("name", "resource__name")

