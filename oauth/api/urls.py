from django.urls import path
from rest_framework.routers import SimpleRouter

from .jobs import urlpatterns as jobs_urlpatterns
from .views import AuthSettingsViewSet, ClientViewSet, GrantViewSet, SigningKeyViewSet, TokenViewSet

router = SimpleRouter(trailing_slash=False)
router.register("clients", ClientViewSet, basename="client")
router.register("tokens", TokenViewSet, basename="token")
router.register("grants", GrantViewSet, basename="grant")
router.register("keys", SigningKeyViewSet, basename="signing-key")
urlpatterns = [
    *router.urls,
    path("authorization-settings", AuthSettingsViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
         name="authorization-settings"),
]
urlpatterns += jobs_urlpatterns  # background jobs and key rotation (oauth/api/jobs.py)
