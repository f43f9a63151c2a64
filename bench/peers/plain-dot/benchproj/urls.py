# ruff: noqa  (peer fixture copied from ../shared/bench/peers, kept as it is there)
from django.urls import path
from oauth2_provider import views
urlpatterns = [
    path("o/token/", views.TokenView.as_view(), name="token"),
    path("o/introspect/", views.IntrospectTokenView.as_view(), name="introspect"),
]
