"""The Django admin, for platform operators only, signed in through the console's sign-in.

Django's own admin login form would be a second password door without the sign-in rate limit, the
account lockout and the SSO rules (identity/views.py ThrottledSignInMixin): it is not served. The admin
sends anonymous visitors to ``/login?next=/admin/...`` and refuses everyone who is not an operator,
including an operator whose session a tenant's identity provider opened.
"""

from functools import wraps

from django.contrib import admin
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from kit.tenancy import platform_wide
from tenants.selectors import is_operator


class PlatformAdminSite(admin.AdminSite):
    site_header = "MCP Auth Platform: operators"

    def has_permission(self, request):
        return is_operator(request.user)

    def admin_view(self, view, cacheable=False):
        """Operators see every tenant's rows here: the admin's queries are platform-wide by design
        (kit.tenancy.platform_wide), its template responses rendered inside that too."""
        inner = super().admin_view(view, cacheable)

        @wraps(inner)
        def platform_wide_view(request, *args, **kwargs):
            with platform_wide():
                response = inner(request, *args, **kwargs)
                if callable(getattr(response, "render", None)) and not response.is_rendered:
                    response.render()
                return response

        return platform_wide_view

    def login(self, request, extra_context=None):
        if request.user.is_authenticated:  # signed in, but no operator: the console's sign-in would loop
            raise PermissionDenied("the Django admin is for platform operators")
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index", current_app=self.name)
        return redirect_to_login(target, login_url=reverse("login"))
