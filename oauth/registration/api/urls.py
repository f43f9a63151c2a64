from django.urls import path
from rest_framework.routers import SimpleRouter

from . import InitialAccessTokenViewSet, PolicyViewSet, PublisherViewSet, RegistrationViewSet, RuleViewSet

router = SimpleRouter(trailing_slash=False)
router.register("registrations", RegistrationViewSet, basename="registration")
router.register("registration-rules", RuleViewSet, basename="registration-rule")
router.register("initial-access-tokens", InitialAccessTokenViewSet, basename="initial-access-token")
router.register("trusted-publishers", PublisherViewSet, basename="trusted-publisher")
urlpatterns = [
    path("registration-policy", PolicyViewSet.as_view({"get": "list", "patch": "partial_update_policy"}),
         name="registration-policy"),
    *router.urls,
]
