from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import CustomDomainViewSet, MemberViewSet, OwnTenantViewSet, TenantViewSet

router = SimpleRouter(trailing_slash=False)
router.register("tenants", TenantViewSet, basename="tenant")
router.register("members", MemberViewSet, basename="member")
urlpatterns = router.urls + [
    path("tenant", OwnTenantViewSet.as_view({"get": "retrieve", "patch": "partial_update"}), name="own-tenant"),
    path("tenant/custom-domain", CustomDomainViewSet.as_view({"get": "retrieve", "put": "update",
                                                              "delete": "destroy"}), name="custom-domain"),
    path("tenant/custom-domain/verify", CustomDomainViewSet.as_view({"post": "verify"}),
         name="custom-domain-verify"),
]
