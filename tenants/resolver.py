"""The one tenant resolver: which tenant a request is for, by ordered strategies.

``STRATEGIES`` in order: the path (``/t/<slug>/``, also after ``/.well-known/<name>``), a verified custom
domain (the Host), the API credential (an OAuth token carries its tenant), the console session (the
tenant a person names by the console URL, the ``X-Tenant`` header or their last console tenant, among
those they administer or audit). The first strategy that finds a tenant wins; a strategy that finds a
name but no tenant it may give refuses (``TenantRefused``), and the later ones are not asked.

Each caller asks the strategies that fit where it stands: the tenant middleware and the fast document
path the first two (``PUBLIC``), the REST API base the last two (``API``: its URLs carry no tenant), the
console base the last one with the slug of its URL. They all bind the answer the same way
(``kit.tenancy``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from kit.errors import ApplicationError

from . import selectors
from .models import CONSOLE_ROLES

# /t/acme/..., and RFC 8414 / RFC 9728 path insertion: /.well-known/<document>/t/acme/...
TENANT_PATH = re.compile(r"^(?:/\.well-known/[a-z0-9-]+)?/t/(?P<slug>[^/]+)(?:/|$)")
SESSION_TENANT_KEY = "console_tenant"  # the tenant last opened in the console, by slug


class TenantRefused(ApplicationError):
    """The request names a tenant it cannot have: unknown (404), suspended (403), not the caller's (404),
    or no caller (401). ``tenant`` is the tenant found, when there is one (its error page is branded)."""

    def __init__(self, message, *, code: str, status: int, tenant=None, params: dict | None = None):
        # ``message`` may be a lazy translatable text with %(name)s filled from ``params``: ``.message`` is
        # its English (API and protocol answers), ``localized()`` the language of the page being rendered.
        self.text, self.params = message, params
        with translation.override("en"):
            super().__init__(self.localized(), code=code, status=status)
        self.tenant = tenant

    def localized(self) -> str:
        return str(self.text) % self.params if self.params is not None else str(self.text)


@dataclass
class Call:
    """What the strategies read of a request; built from a Django request (``of``) or from the fast
    document path's ASGI scope, which has no Django request."""

    path: str
    host: Callable[[], str] = lambda: ""  # the validated Host header, with port; asked only when needed
    domain_tenant: object = None  # the Host's tenant, already looked up (CustomDomainHostMiddleware)
    request: object = None  # the Django/DRF request: its credential, user, headers and session
    console_slug: str | None = None  # the tenant named by a console URL (/console/<slug>/)
    own_hosts: set = field(default_factory=lambda: platform_hosts())

    @classmethod
    def of(cls, request, **kwargs) -> Call:
        return cls(path=request.path_info,
                   host=lambda: request.get_host() if request.META.get("HTTP_HOST") else "",
                   domain_tenant=getattr(request, "custom_domain_tenant", None), request=request, **kwargs)


@dataclass(frozen=True)
class Resolved:
    tenant: object
    strategy: str  # the name of the strategy that found it
    membership: object = None  # the console session's membership
    scopes: frozenset | None = None  # the API credential's scopes


def platform_hosts() -> set[str]:
    """Hosts that are the platform's own: requests to them never look up custom domains."""
    return {urlsplit(settings.PUBLIC_URL).hostname, "127.0.0.1", "localhost", "testserver"}


def by_path(call: Call) -> Resolved | None:
    match = TENANT_PATH.match(call.path)
    if not match:
        return None
    slug = match.group("slug")
    tenant = selectors.tenant_by_slug(slug)
    if tenant is None:
        raise TenantRefused(_("There is no tenant '%(slug)s' here."), params={"slug": slug[:40]},
                            code="unknown_tenant", status=404)
    return Resolved(tenant, "path")


def by_custom_domain(call: Call) -> Resolved | None:
    host = call.host().rsplit(":", 1)[0]
    if not host or host in call.own_hosts:
        return None
    tenant = call.domain_tenant or selectors.tenant_by_domain(host)
    return Resolved(tenant, "custom_domain") if tenant is not None else None


def by_credential(call: Call) -> Resolved | None:
    auth = getattr(call.request, "auth", None)
    tenant = getattr(auth, "tenant", None)
    if tenant is None:
        return None
    return Resolved(tenant, "credential", scopes=frozenset(getattr(auth, "scopes", ()) or ()))


def by_console_session(call: Call) -> Resolved | None:
    request = call.request
    user = getattr(request, "user", None)
    if request is None or user is None:
        return None
    if not user.is_authenticated:
        raise TenantRefused("Authentication credentials were not provided.", code="not_authenticated", status=401)
    slug = call.console_slug or request.headers.get("X-Tenant") or request.session.get(SESSION_TENANT_KEY)
    if not slug:
        memberships = list(selectors.console_memberships(user)[:2])
        if len(memberships) != 1:
            raise TenantRefused("name the tenant with the X-Tenant header (you belong to several or none)",
                                code="permission_denied", status=403)
        return Resolved(memberships[0].tenant, "console_session", membership=memberships[0])
    tenant = selectors.tenant_by_slug(slug)
    membership = selectors.membership_of(user, tenant) if tenant else None
    if membership is None or membership.role not in CONSOLE_ROLES:
        raise TenantRefused(f"no tenant '{slug[:40]}' that you administer", code="not_found", status=404)
    return Resolved(tenant, "console_session", membership=membership)


STRATEGIES = (by_path, by_custom_domain, by_credential, by_console_session)
PUBLIC = (by_path, by_custom_domain)
API = (by_credential, by_console_session)


def resolve(call: Call, strategies=STRATEGIES, *, active_only: bool = True) -> Resolved | None:
    """The first strategy's tenant (in ``STRATEGIES`` order), or None when none finds one. A suspended
    tenant is refused unless ``active_only`` is False (the console still shows its own pages)."""
    for strategy in sorted(strategies, key=STRATEGIES.index):
        found = strategy(call)
        if found is None:
            continue
        tenant = found.tenant
        if active_only and not tenant.is_active:
            raise TenantRefused(_("Tenant '%(slug)s' is suspended: %(reason)s"),
                                params={"slug": tenant.slug, "reason": tenant.suspended_reason},
                                code="tenant_suspended", status=403, tenant=tenant)
        return found
    return None
