from django.urls import path
from rest_framework.routers import SimpleRouter

from identity.mfa.api import MfaPolicyViewSet
from identity.people.api.urls import urlpatterns as people_urlpatterns

from .views import FederatedIdentityViewSet, IdentityProviderViewSet

router = SimpleRouter(trailing_slash=False)
router.register("sso/identity-providers", IdentityProviderViewSet, basename="sso-identity-provider")
router.register("sso/federated-identities", FederatedIdentityViewSet, basename="sso-federated-identity")
urlpatterns = router.urls + people_urlpatterns + [
    path("mfa-policy", MfaPolicyViewSet.as_view({"get": "retrieve_policy", "patch": "update_policy"}),
         name="mfa-policy"),
]
