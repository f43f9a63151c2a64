from django.urls import path

from . import console, views


def _pages(prefix: str) -> list:
    """The same pages for the console (no prefix) and a tenant's people ("tenant-", under /t/<slug>/)."""
    return [
        path("mfa", views.ChallengeView.as_view(), name=f"{prefix}mfa-challenge"),
        path("mfa/passkey-options", views.ChallengePasskeyOptionsView.as_view(),
             name=f"{prefix}mfa-challenge-passkey-options"),
        path("mfa/passkey", views.ChallengePasskeyView.as_view(), name=f"{prefix}mfa-challenge-passkey"),
        path("account/security", views.AccountView.as_view(), name=f"{prefix}mfa-account"),
        path("account/security/passkey-options", views.AccountPasskeyOptionsView.as_view(),
             name=f"{prefix}mfa-account-passkey-options"),
        path("account/security/passkey", views.AccountPasskeyView.as_view(), name=f"{prefix}mfa-account-passkey"),
    ]


root_urlpatterns = _pages("")
tenant_urlpatterns = _pages("tenant-")
console_urlpatterns = [
    path("<str:slug>/mfa/", console.MfaPolicyView.as_view(), name="mfa"),
]
