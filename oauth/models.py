"""django-oauth-toolkit's models, swapped so that every row carries its tenant (ARCHITECTURE §3).

DOT never sets ``tenant`` on rows it creates; each token-ish model derives it from its application in
``save()``.
"""

from django.db import models
from oauth2_provider import models as dot

from tenants.models import TenantOwned, TenantScopedManager


class ApplicationManager(TenantScopedManager):
    def get_by_natural_key(self, client_id):
        return self.get(client_id=client_id)


class Application(TenantOwned, dot.AbstractApplication):
    objects = ApplicationManager()

    class Meta(dot.AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"

    def natural_key(self):
        return (self.client_id,)


class _TenantFromApplication(TenantOwned):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.tenant_id is None and self.application_id is not None:
            self.tenant_id = Application.objects.unscoped().values_list("tenant_id", flat=True).get(
                pk=self.application_id)
        super().save(*args, **kwargs)


class Grant(_TenantFromApplication, dot.AbstractGrant):
    class Meta(dot.AbstractGrant.Meta):
        swappable = "OAUTH2_PROVIDER_GRANT_MODEL"


class AccessToken(_TenantFromApplication, dot.AbstractAccessToken):
    class Meta(dot.AbstractAccessToken.Meta):
        swappable = "OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL"


class RefreshToken(_TenantFromApplication, dot.AbstractRefreshToken):
    class Meta(dot.AbstractRefreshToken.Meta):
        swappable = "OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL"


class IDToken(_TenantFromApplication, dot.AbstractIDToken):
    class Meta(dot.AbstractIDToken.Meta):
        swappable = "OAUTH2_PROVIDER_ID_TOKEN_MODEL"


__all__ = ["Application", "Grant", "AccessToken", "RefreshToken", "IDToken", "models"]
