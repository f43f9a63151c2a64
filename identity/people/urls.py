"""URLs of people's pages: the tenant ones (/t/<slug>/...), the console's (/...) and the console pages."""

from django.urls import path, re_path

from . import console, views

tenant_urlpatterns = [
    path("invitation/<str:token>", views.InvitationLinkView.as_view(), name="tenant-invitation-link"),
    path("invitation", views.InvitationView.as_view(), name="tenant-invitation"),
    path("password/forgot", views.ForgotPasswordView.as_view(), name="tenant-password-forgot"),
    path("password/reset/<str:token>", views.PasswordResetLinkView.as_view(), name="tenant-password-reset-link"),
    path("password/reset", views.PasswordResetView.as_view(), name="tenant-password-reset"),
    path("account/sessions", views.SessionsView.as_view(), name="tenant-account-sessions"),
]

# Mounted at / : the console's own sign-in has them too (platform operators, admins of several tenants).
root_urlpatterns = [
    path("password/forgot", views.ForgotPasswordView.as_view(), name="password-forgot"),
    path("password/reset/<str:token>", views.PasswordResetLinkView.as_view(), name="password-reset-link"),
    path("password/reset", views.PasswordResetView.as_view(), name="password-reset"),
    path("account/sessions", views.SessionsView.as_view(), name="account-sessions"),
]

console_urlpatterns = [
    path("<str:slug>/invitations/", console.InvitationsView.as_view(), name="invitations"),
    re_path(r"^(?P<slug>[^/]+)/invitations/(?P<invitation_id>[0-9a-f-]{36})/(?P<verb>resend|revoke)$",
            console.InvitationActionView.as_view(), name="invitation-action"),
    re_path(r"^(?P<slug>[^/]+)/members/(?P<member_id>[0-9a-f-]{36})/end-sessions$",
            console.MemberSessionsEndView.as_view(), name="member-sessions-end"),
]
