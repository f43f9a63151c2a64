from rest_framework.routers import SimpleRouter

from .views import FederatedIdentityViewSet, IdentityProviderViewSet

router = SimpleRouter(trailing_slash=False)
router.register("sso/identity-providers", IdentityProviderViewSet, basename="sso-identity-provider")
router.register("sso/federated-identities", FederatedIdentityViewSet, basename="sso-federated-identity")
urlpatterns = router.urls
