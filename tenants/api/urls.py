from rest_framework.routers import SimpleRouter

from .views import MemberViewSet, TenantViewSet

router = SimpleRouter(trailing_slash=False)
router.register("tenants", TenantViewSet, basename="tenant")
router.register("members", MemberViewSet, basename="member")
urlpatterns = router.urls
