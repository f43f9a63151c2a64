from django.urls import path

from . import console, views
from .people import urls as people_urls

# Mounted under /t/<slug>/ (the tenant middleware has already resolved request.tenant).
tenant_urlpatterns = [
    path("login", views.TenantSignInView.as_view(), name="tenant-login"),
    path("brand.css", views.tenant_brand_css, name="tenant-brand-css"),
    path("sso/<slug:idp_slug>/start", views.SSOStartView.as_view(), name="sso-start"),
    path("sso/<slug:idp_slug>/callback", views.SSOCallbackView.as_view(), name="sso-callback"),
    path("sso/<slug:idp_slug>/backchannel-logout", views.BackchannelLogoutView.as_view(),
         name="sso-backchannel-logout"),
    path("sso/<slug:idp_slug>/jwks", views.provider_jwks, name="sso-jwks"),
    *people_urls.tenant_urlpatterns,
    path("", views.TenantHomeView.as_view(), name="tenant-home"),
]

root_urlpatterns = people_urls.root_urlpatterns

# Mounted under /console/ (namespace "console").
console_urlpatterns = [
    path("<str:slug>/sso/", console.SSOView.as_view(), name="sso"),
    path("<str:slug>/sso/<uuid:idp_id>/", console.IdentityProviderView.as_view(), name="sso-provider"),
    path("<str:slug>/sso/<uuid:idp_id>/<str:verb>", console.IdentityProviderActionView.as_view(),
         name="sso-provider-action"),
    *people_urls.console_urlpatterns,
]
