"""The job log's API routes (mounted at /api/v1/, namespace "api", by mcp_platform/urls.py)."""

from rest_framework.routers import SimpleRouter

from .views import JobViewSet

router = SimpleRouter(trailing_slash=False)
router.register("jobs", JobViewSet, basename="job")
urlpatterns = router.urls
