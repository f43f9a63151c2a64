from django.urls import path

from . import views

# Mounted under /t/<slug>/ (the tenant middleware has already resolved request.tenant).
tenant_urlpatterns = [
    path("login", views.TenantSignInView.as_view(), name="tenant-login"),
    path("brand.css", views.tenant_brand_css, name="tenant-brand-css"),
    path("", views.TenantHomeView.as_view(), name="tenant-home"),
]
