"""The base of every tenant-scoped API endpoint.

The tenant comes from the caller's credential, never from the URL: an OAuth access token carries its
tenant (``request.auth.tenant``); a console session names one with the ``X-Tenant`` header or the
tenant chosen in the console. Querysets are filtered by that tenant in ``get_queryset`` every time, so
another tenant's object id is a 404.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import DataError, transaction
from django.http import Http404
from rest_framework import permissions, viewsets
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied

from kit import stepup
from kit.tenancy import bind_tenant
from tenants import resolver
from tenants.authority import Authority
from tenants.models import ADMIN_ROLES, CONSOLE_ROLES

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class StepUpRequired(PermissionDenied):
    """403 ``step_up_required``: a session caller's sensitive change needs a fresh second factor first."""

    error_code = "step_up_required"


# The resolver's refusals as the API's exceptions (their denials are audited by tenants/api/errors.py).
_REFUSALS = {401: NotAuthenticated, 403: PermissionDenied, 404: NotFound}


def resolve_api_tenant(request) -> resolver.Resolved:
    """The caller's tenant, from its credential or else its console session (tenants/resolver.py, ``API``);
    raises if there is none."""
    try:
        found = resolver.resolve(resolver.Call.of(request), resolver.API)
    except resolver.TenantRefused as refused:
        raise _REFUSALS[refused.status](refused.message) from refused
    if found is None:  # no credential and no user: DRF's anonymous request
        raise NotAuthenticated()
    return found


def _authority(request, membership, scopes) -> Authority:
    """A person's role, or a management client's: its creator's role, within its token's scopes."""
    if scopes is None:
        return Authority(role=membership.role)
    application = request.auth.application
    return Authority(role=application.creator_role, scopes=frozenset(scopes), client_pk=application.pk)


class TenantPermission(permissions.BasePermission):
    """Sessions: read needs owner/admin/auditor, write needs owner/admin. Tokens: the area's scopes.
    Reads the tenant ``TenantEndpoint.initial`` resolved; binds nothing."""

    def has_permission(self, request, view):
        membership, scopes = request.membership, request.scopes
        write = request.method not in SAFE_METHODS
        if scopes is not None:
            needed = view.required_scope(write)
            if needed not in scopes and f"admin:{view.api_area}" not in scopes:
                raise PermissionDenied(f"this token lacks the '{needed}' scope")
            return True
        allowed = ADMIN_ROLES if write else CONSOLE_ROLES
        if membership.role not in allowed:
            raise PermissionDenied(f"your role '{membership.role}' cannot {'change' if write else 'read'} "
                                   f"{view.api_area}")
        # Sensitive changes by a person ask for a fresh second factor (kit.stepup); tokens are machine
        # clients, bounded by their scopes and their creator's role instead (the branch above). On an
        # object's route the check waits for the object (has_object_permission): another tenant's id is a 404.
        if write and view.kwargs.get(view.lookup_url_kwarg or view.lookup_field) is None:
            _step_up(request, view)
        return True

    def has_object_permission(self, request, view, obj):
        if request.method not in SAFE_METHODS and request.scopes is None:
            _step_up(request, view)
        return True


def _step_up(request, view) -> None:
    if getattr(view, "step_up", False) and (url := stepup.challenge_url(request)) is not None:
        raise StepUpRequired(f"this change needs a fresh second factor: confirm it at {url} and retry")


class TenantEndpoint(viewsets.GenericViewSet):
    """Subclasses set ``api_area`` (e.g. "members") and return ``for_tenant`` querysets."""

    permission_classes = [TenantPermission]
    api_area = ""
    step_up = False  # True: a session caller's writes need a fresh second factor (kit.stepup)

    def initial(self, request, *args, **kwargs):
        """After authentication, before the permission check: the caller's tenant, bound for the rest of
        the request (the tenant middleware's context resets it when the request ends)."""
        self.perform_authentication(request)
        found = resolve_api_tenant(request)
        request.tenant, request.membership, request.scopes = found.tenant, found.membership, found.scopes
        request.authority = _authority(request, found.membership, found.scopes)
        bind_tenant(found.tenant)
        super().initial(request, *args, **kwargs)

    @classmethod
    def required_scope(cls, write: bool) -> str:
        return f"admin:{cls.api_area}" if write else f"admin:{cls.api_area}.read"

    @property
    def tenant(self):
        return self.request.tenant

    def get_object(self):
        """The tenant's object, or 404; an id that exists at another tenant is the same 404, and a
        security event in this tenant's chain (aggregated, audit/failures.py), not naming the other."""
        try:
            return super().get_object()
        except Http404:
            self._audit_foreign_id()
            raise

    def _audit_foreign_id(self) -> None:
        model = self.get_queryset().model
        manager = getattr(model.objects, "unscoped", None)
        lookup = self.lookup_url_kwarg or self.lookup_field
        value = self.kwargs.get(lookup)
        if manager is None or value is None:
            return
        try:
            with transaction.atomic():  # a value the column cannot hold must not break the request's transaction
                elsewhere = manager().filter(**{self.lookup_field: value}).exclude(tenant=self.tenant).exists()
        except (ValueError, TypeError, ValidationError, DataError):
            return
        if elsewhere:
            from audit.failures import cross_tenant_attempt_record

            cross_tenant_attempt_record(tenant=self.tenant, actor=self.get_actor(), request=self.request,
                                        object_type=model._meta.label_lower, object_id=value)

    def get_actor(self):
        user = self.request.user
        return user if user.is_authenticated else getattr(self.request.auth, "application", None)
