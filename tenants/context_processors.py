from django.conf import settings


def tenant(request):
    return {"tenant": getattr(request, "tenant", None), "PUBLIC_URL": settings.PUBLIC_URL}
