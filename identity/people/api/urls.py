from django.urls import path
from rest_framework.routers import SimpleRouter

from .views import InvitationViewSet, MemberSessionsViewSet

router = SimpleRouter(trailing_slash=False)
router.register("invitations", InvitationViewSet, basename="invitation")
urlpatterns = router.urls + [
    path("members/<uuid:pk>/end-sessions", MemberSessionsViewSet.as_view({"post": "end"}),
         name="member-end-sessions"),
]
