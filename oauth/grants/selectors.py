"""Reads of tokens and consent, incl. the lookups the token endpoint repeats on every request and
bearer-token verification for the platform REST API."""

from __future__ import annotations

import hashlib

from django.db import connection
from django.db.models import BooleanField, Expression
from django.utils import timezone

from kit.db import select_one

from ..models import ADMIN_SCOPES, AccessToken, Consent, RefreshToken, RevocationMark, api_audience


def token_checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class _NoLiveMark(Expression):
    """``NOT EXISTS (a live revocation mark covering this row)``, as fixed SQL. Built with ``Exists`` and
    ``OuterRef`` the same predicate cost ~2.8 ms of Python per lookup to compile (bench/README.md), more
    than the rest of the lookup; this costs ~0.1 ms. The token table's alias is asked of the compiler, so
    the predicate stays right inside a subquery, where Django renames tables."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, template: str):
        super().__init__()
        self.template = template

    def as_sql(self, compiler, connection):
        token = compiler.quote_name_unless_alias(compiler.query.get_initial_alias())
        return self.template.format(token=token), []


_MARK_COVERS = (
    f'NOT EXISTS (SELECT 1 FROM "{RevocationMark._meta.db_table}" revmark'
    " WHERE revmark.tenant_id = {token}.tenant_id AND revmark.issued_before > {token}.created"
    " AND (revmark.application_id IS NULL OR revmark.application_id = {token}.application_id)"
    " AND (revmark.user_id IS NULL OR revmark.user_id = {token}.user_id)"
    " AND (revmark.audience = '' OR revmark.audience = {token}.audience)"
    " AND {kid})")
_NO_MARK_ON_ACCESS = _NoLiveMark(_MARK_COVERS.replace("{kid}", "(revmark.kid = '' OR revmark.kid = {token}.kid)"))
_NO_MARK_ON_REFRESH = _NoLiveMark(_MARK_COVERS.replace("{kid}", "revmark.kid = ''"))


def not_revoked_by_mark(qs):
    """``qs`` (access or refresh tokens) without the tokens a live revocation mark covers.

    A ``NOT EXISTS`` inside the lookup's own statement: no extra round trip per request, and the marks
    table holds only the bulk revocations under way (usually none), reached by its tenant index. A mark
    covers a token of its tenant issued before it whose client, user, audience and kid equal every one
    the mark names; a mark naming none is the whole tenant. A kid mark covers access tokens only (the key
    signed those; their refresh tokens stay valid, see revocation.Selection.revokes_refresh_tokens).
    """
    return qs.filter(_NO_MARK_ON_REFRESH if qs.model is RefreshToken else _NO_MARK_ON_ACCESS)


class _SubjectStillHere(_NoLiveMark):
    """``the token has no user, or its user is active and still a member of the token's tenant``, as fixed
    SQL like the mark predicate. Removal, deactivation and suspension revoke at once (oauth/grants/receivers.py,
    identity/receivers.py); this makes every presented-token lookup say so too, whatever a revocation
    missed. Every person-bound token here was issued to a member: the authorization endpoint refuses
    anyone else. The tables are named when the first query compiles (the user model is swappable)."""

    def __init__(self):
        super().__init__("")

    def as_sql(self, compiler, connection):
        if not self.template:
            from django.contrib.auth import get_user_model

            from tenants.models import Membership

            user = get_user_model()._meta
            self.template = (
                "({token}.user_id IS NULL OR EXISTS (SELECT 1 FROM "
                f'"{Membership._meta.db_table}" subj_m INNER JOIN "{user.db_table}" subj_u'
                f' ON subj_u."{user.pk.column}" = subj_m.user_id'
                " WHERE subj_m.tenant_id = {token}.tenant_id AND subj_m.user_id = {token}.user_id"
                " AND subj_u.is_active))")
        return super().as_sql(compiler, connection)


_SUBJECT_STILL_HERE = _SubjectStillHere()


def presentable(qs):
    """``qs`` (access or refresh tokens) as a presented token may be found: under no revocation mark, and
    its person (if any) still an active member of the tenant. Introspection, userinfo, refresh and
    revocation lookups go through this; admin lists use ``not_revoked_by_mark`` alone."""
    return not_revoked_by_mark(qs).filter(_SUBJECT_STILL_HERE)


def _live_access_tokens(tenant, token: str):
    return presentable(AccessToken.objects.for_tenant(tenant).filter(
        token_checksum=token_checksum(token), expires__gt=timezone.now()))


def access_token_by_value(tenant, token: str) -> AccessToken | None:
    """The live access-token row for a presented token, of this tenant only, with its client and user."""
    if not token or len(token) > 8192:
        return None
    # The checksum is unique: no ORDER BY (first() would add one); the tenant is known, not joined.
    row = next(iter(_live_access_tokens(tenant, token).select_related("application", "user")[:1]), None)
    if row is not None:
        row.tenant = tenant
    return row


INTROSPECTED_COLUMNS = ("user_id", "audience", "scope", "expires", "created", "jti", "application__client_id",
                        "application__cimd_url")


def _introspected(tenant_id, checksum: str, now):
    return presentable(AccessToken.objects.unscoped().filter(
        tenant_id=tenant_id, token_checksum=checksum, expires__gt=now)).values_list(*INTROSPECTED_COLUMNS)[:1]


def access_token_facts(tenant, token: str) -> dict | None:
    """The columns introspection answers with, for a live access token of this tenant; no model instances:
    building the row with its client and user was ~60 % of an introspection request's CPU (bench/README.md).
    The statement is compiled once and bound on the server (kit/db.py); Django's view and the lean path
    (oauth/lean) both look tokens up here."""
    if not token or len(token) > 8192:
        return None
    row = select_one("introspection", _introspected, (tenant.pk, token_checksum(token), timezone.now()))
    return dict(zip(INTROSPECTED_COLUMNS, row, strict=True)) if row is not None else None


def own_access_token(tenant, client, token: str) -> AccessToken | None:
    """The access-token row of ``token`` if ``client`` holds it here (RFC 7009 revocation, either path)."""
    return (AccessToken.objects.for_tenant(tenant).select_related("application")
            .filter(token_checksum=token_checksum(token), application=client).first())


def refresh_token_by_value(tenant, token: str) -> RefreshToken | None:
    if not token or len(token) > 8192:
        return None
    qs = (RefreshToken.objects.for_tenant(tenant).select_related("application", "user", "access_token")
          .filter(token_checksum=token_checksum(token)).order_by("-created"))
    return presentable(qs).first()


def tokens_of(tenant, *, client=None, user=None, audience: str = ""):
    """Live access tokens for the console/API list, newest first."""
    qs = not_revoked_by_mark(AccessToken.objects.for_tenant(tenant).select_related("application", "user")
                             .filter(expires__gt=timezone.now()).order_by("-created"))
    if client is not None:
        qs = qs.filter(application=client)
    if user is not None:
        qs = qs.filter(user=user)
    if audience:
        qs = qs.filter(audience=audience)
    return qs


def consents_of(tenant, user):
    """The user's connected apps: one row per client and resource they said yes to."""
    return (Consent.objects.for_tenant(tenant).filter(user=user).select_related("application")
            .order_by("-updated_at"))


def api_token(token: str) -> AccessToken | None:
    """For the platform REST API (/api/v1): the verified access-token row of a client_credentials token
    whose audience is the API, with ``.tenant`` and ``.application`` loaded; None if not valid.

    The API has no tenant in its URL: the token names it. The row lookup by checksum is the proof (the
    platform issued it, it is unexpired and unrevoked, by no revocation mark either); ``scope_list`` holds
    the admin scopes granted.
    """
    if not token or len(token) > 8192:
        return None
    row = not_revoked_by_mark(
        AccessToken.objects.unscoped().select_related("tenant", "application")
        .filter(token_checksum=token_checksum(token), expires__gt=timezone.now(), audience=api_audience())).first()
    if row is None or not row.tenant.is_active or not row.application.is_usable(None):
        return None
    return row


def admin_scopes_of(row: AccessToken) -> set[str]:
    return {s for s in row.scope_list if s in ADMIN_SCOPES}


def grants_of(tenant, *, client=None, user_email: str = "", audience: str = ""):
    """Remembered consents of the tenant (the admin's "grants" view), newest first."""
    qs = Consent.objects.for_tenant(tenant).select_related("application", "user").order_by("-updated_at")
    if client is not None:
        qs = qs.filter(application=client)
    if user_email:
        qs = qs.filter(user__email__iexact=user_email)
    if audience:
        qs = qs.filter(audience=audience)
    return qs


def grants_for_resource(grants, resource: str):
    """Authorization codes issued for ``resource`` (their ``resource`` is a JSON list of URIs). SQLite has
    no JSON containment lookup; codes live 60 s, so there are few, and the list is matched in Python."""
    if connection.features.supports_json_field_contains:
        return grants.filter(resource__contains=[resource])
    ids = [pk for pk, uris in grants.values_list("pk", "resource") if resource in (uris or [])]
    return grants.filter(pk__in=ids)


def tenant_ids_with_tokens_of(user) -> set:
    """The tenants where ``user`` holds an access token or a live refresh token (every tenant: the person
    is platform-wide, e.g. after a password reset)."""
    return (set(RefreshToken.objects.unscoped().filter(user=user, revoked__isnull=True)
                .values_list("tenant_id", flat=True))
            | set(AccessToken.objects.unscoped().filter(user=user).values_list("tenant_id", flat=True)))
