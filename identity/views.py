from django.contrib.auth import views as auth_views
from django.http import Http404, HttpResponse
from django.shortcuts import resolve_url
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.generic import TemplateView

from .forms import EmailSignInForm, TenantSignInForm


class ConsoleSignInView(auth_views.LoginView):
    """Sign-in for the admin console (tenant administrators and platform operators)."""

    form_class = EmailSignInForm
    template_name = "identity/console_login.html"
    redirect_authenticated_user = True


class TenantSignInView(auth_views.LoginView):
    """The tenant-branded sign-in page that end users see during an OAuth authorization."""

    form_class = TenantSignInForm
    template_name = "identity/tenant_login.html"

    def dispatch(self, request, *args, **kwargs):
        if request.tenant is None:
            raise Http404("unknown tenant")
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self):
        # Only paths of this tenant: a sign-in page must not become an open redirect.
        target = self.get_redirect_url()
        prefix = f"/t/{self.request.tenant.slug}/"
        if target and target.startswith(prefix) and url_has_allowed_host_and_scheme(
                target, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()):
            return target
        return resolve_url("tenant-home", slug=self.request.tenant.slug)


class TenantHomeView(TemplateView):
    """Where a signed-in end user lands without an authorization request: their tenant's front door."""

    template_name = "identity/tenant_home.html"


class SignOutView(auth_views.LogoutView):
    next_page = "login"


def tenant_brand_css(request, slug):
    """The tenant's accent colour as a stylesheet: the CSP allows no inline styles."""
    if request.tenant is None:
        raise Http404("unknown tenant")
    response = HttpResponse(f":root {{ --accent: {request.tenant.accent_color}; }}\n", content_type="text/css")
    response["Cache-Control"] = "public, max-age=300"
    return response
