from django.contrib.auth import get_user_model


def user_by_email(email: str):
    return get_user_model().objects.filter(email__iexact=(email or "").strip()).first()
