from django.contrib import admin

from .models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "status", "custom_domain", "custom_domain_verified", "created_at")
    # Only the DNS check verifies a domain (tenants.services.custom_domain_verify): shown, never edited here.
    readonly_fields = ("custom_domain_verified", "custom_domain_token", "custom_domain_checked_at",
                       "custom_domain_failures")
    list_filter = ("status",)
    search_fields = ("slug", "name", "custom_domain")
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        # Writes go through the services so that they are audited; the admin edits branding only.
        from . import services

        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data if f in services.UPDATABLE_FIELDS}
            services.tenant_update(tenant=obj, actor=request.user, request=request, **fields)
        else:
            created = services.tenant_create(slug=obj.slug, name=obj.name, actor=request.user, request=request)
            obj.pk = created.pk
