from rest_framework.routers import SimpleRouter

from .audit import AuditEventViewSet, AuditVerificationViewSet
from .views import MemberViewSet, TenantViewSet

router = SimpleRouter(trailing_slash=False)
router.register("tenants", TenantViewSet, basename="tenant")
router.register("members", MemberViewSet, basename="member")
router.register("audit/events", AuditEventViewSet, basename="audit-event")
router.register("audit/verification", AuditVerificationViewSet, basename="audit-verification")
urlpatterns = router.urls
