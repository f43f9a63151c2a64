"""What every tenant console page shares: membership check, tenant binding, navigation."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import NoReverseMatch, reverse

from kit.tenancy import bind_tenant, unbind_tenant

from . import resolver
from .models import ADMIN_ROLES
from .resolver import SESSION_TENANT_KEY
from .selectors import console_memberships

# The console's sections, in order; a section whose URL is not wired yet shows as "coming soon".
SECTIONS = [
    ("Dashboard", "console:dashboard"),
    ("Resources", "console:resources"),
    ("Clients & approvals", "console:clients"),
    ("Tokens & grants", "console:tokens"),
    ("Keys", "console:keys"),
    ("Audit log", "console:audit"),
    ("SSO", "console:sso"),
    ("MFA", "console:mfa"),
    ("Members", "console:members"),
    ("Jobs", "console:jobs"),
    ("Settings", "console:settings"),
]


def navigation(slug: str, current: str) -> list[dict]:
    items = []
    for label, name in SECTIONS:
        try:
            url = reverse(name, kwargs={"slug": slug})
        except NoReverseMatch:
            url = None
        items.append({"label": label, "url": url, "active": name == current})
    return items


class TenantConsoleMixin(LoginRequiredMixin):
    """Resolves /console/<slug>/ to a tenant the user administers or audits; anything else is a 404."""

    section = "console:dashboard"
    write_roles = ADMIN_ROLES

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        try:  # a suspended tenant's console still opens for its own people
            found = resolver.resolve(resolver.Call.of(request, console_slug=kwargs["slug"]),
                                     (resolver.by_console_session,), active_only=False)
        except resolver.TenantRefused as refused:
            raise Http404("no such tenant in your console") from refused
        tenant, membership = found.tenant, found.membership
        if request.method not in ("GET", "HEAD") and membership.role not in self.write_roles:
            raise PermissionDenied(f"your role '{membership.role}' is read-only here")
        self.tenant, self.membership = tenant, membership
        request.tenant = tenant
        request.session[SESSION_TENANT_KEY] = tenant.slug
        token = bind_tenant(tenant)
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            unbind_tenant(token)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            tenant=self.tenant,
            membership=self.membership,
            can_write=self.membership.role in self.write_roles,
            nav=navigation(self.tenant.slug, self.section),
            switcher=console_memberships(self.request.user),
        )
        return context
