"""The one token-revocation engine: at once inside a service's transaction, or in bulk as a resumable
background job (ARCHITECTURE §6); and the purge of expired rows.

Both paths run the same batches over the same ``Selection``. ``revoke_at_once`` is the synchronous one
(a consent withdrawn, a client suspended or narrowed, a person removed: oauth/grants/services.py,
oauth/clients/services.py): it revokes inside the caller's transaction, with no mark and no job.
``revocation_request`` is the bulk one (the console, the API, the commands, a suspended tenant).

A revocation names *what* to revoke (a client, a user, a resource, a refresh-token family, a signing key,
or the whole tenant), never a list of rows: every batch re-selects what still matches, so a run killed
half-way is finished by running it again and a second run finds nothing left (idempotent). Each batch is
its own short transaction of a few set-based statements (``SELECT id ... LIMIT n``, one ``UPDATE``, one
``DELETE``), whatever the batch size, so locks are held briefly and token issuance goes on meanwhile.

Revocation takes effect when the request commits, not when the job ends: the request writes a
``RevocationMark`` (tenant, criteria, ``issued_before`` = now) in its own transaction, and every lookup that
accepts a token refuses what a live mark covers in the same SQL statement (selectors.not_revoked_by_mark),
so 1M tokens are revoked by one row. The job then makes it physical as before, on the tokens issued before
the mark only (a user who signs in again afterwards keeps the new tokens): access-token rows are deleted
(introspection then answers ``active: false``), refresh tokens get ``revoked`` set; and it deletes the mark
in the transaction of its last, empty batch. A cancelled job stops the purge only: its mark stays and the
tokens stay refused (cancelling cannot un-revoke). A failed job keeps its mark until it is resumed.
Authorization codes matching the selection are deleted by the request itself (at most a minute's worth:
they live 60 s), so no code issued before the mark is exchanged for a fresh token after it.

A revocation by refresh-token family writes no mark (a family is a handful of rows; the job revokes it at
once). A revocation by signing key is narrower on purpose: the key signed the access tokens only, so their
refresh tokens stay valid (its mark covers access tokens only) and clients recover by refreshing onto the
new key.

Progress and cancellation go through the job log (jobs.services): ``done``/``total`` per batch,
``JobRun.cancel_requested`` checked between batches.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import audit
from jobs.models import JobRun, JobStatus
from jobs.services import JobCancelled, job_enqueue, job_run
from kit.tasks import enqueue
from mcp_registry.models import MCPResource

from ..errors import OAuthServiceError
from ..models import (
    AccessToken,
    Application,
    ClientAssertion,
    Consent,
    Grant,
    IDToken,
    RefreshToken,
    RevocationMark,
    TenantAuthSettings,
)
from . import summaries
from .selectors import grants_for_resource

log = logging.getLogger(__name__)

REVOKE_JOB = "oauth.revoke_tokens"
REVOKE_TASK = "oauth.revoke_tokens"  # oauth/tasks.py; sent by name, since the tasks module imports this one
PURGE_JOB = "oauth.purge_expired"
BATCH_SIZE = 5000
# A failed run is resumable too: the task's automatic retry (after a database error) continues it.
RESUMABLE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.FAILED)


@dataclass(frozen=True)
class Selection:
    """What a revocation job revokes, as JSON-able ids (a job's params). Criteria combine with AND,
    except ``everything``, which stands alone."""

    client: int | None = None        # Application pk
    user: str | None = None          # User pk
    resource: str | None = None      # the resource URI (token audience)
    family: str | None = None        # refresh-token family (uuid)
    kid: str | None = None           # signing key id
    everything: bool = False

    def __post_init__(self):
        named = [v for v in (self.client, self.user, self.resource, self.family, self.kid) if v not in (None, "")]
        if self.everything and named:
            raise OAuthServiceError("revoke everything or name a client, user, resource, family or key, not both")
        if not self.everything and not named:
            raise OAuthServiceError("name a client, a user, a resource, a refresh-token family or a signing key "
                                    "whose tokens to revoke (or everything, for the whole tenant)")

    @classmethod
    def from_params(cls, params: dict) -> Selection:
        fields = {k: params.get(k) for k in ("client", "user", "resource", "family", "kid")}
        return cls(**fields, everything=bool(params.get("everything")))

    def as_params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", False)}

    @property
    def revokes_refresh_tokens(self) -> bool:
        return self.kid is None


@dataclass
class Querysets:
    access: object
    refresh: object   # live refresh tokens only
    grants: object


def querysets(tenant, selection: Selection, issued_before=None) -> Querysets:
    """What ``selection`` names; with ``issued_before`` (the job's mark), only what was issued before it."""
    access = AccessToken.objects.for_tenant(tenant)
    refresh = RefreshToken.objects.for_tenant(tenant).filter(revoked__isnull=True)
    grants = Grant.objects.for_tenant(tenant)
    if issued_before is not None:
        access, refresh, grants = (qs.filter(created__lt=issued_before) for qs in (access, refresh, grants))
    if selection.client is not None:
        access, refresh, grants = (qs.filter(application_id=selection.client) for qs in (access, refresh, grants))
    if selection.user is not None:
        access, refresh, grants = (qs.filter(user_id=selection.user) for qs in (access, refresh, grants))
    if selection.resource:
        access, refresh = access.filter(audience=selection.resource), refresh.filter(audience=selection.resource)
        grants = grants_for_resource(grants, selection.resource)
    if selection.family:
        family = uuid.UUID(str(selection.family))
        refresh = refresh.filter(token_family=family)
        access = access.filter(Q(refresh_token__token_family=family) | Q(source_refresh_token__token_family=family))
        grants = grants.none()
    if selection.kid:
        access = access.filter(kid=selection.kid)
        refresh, grants = refresh.none(), grants.none()
    return Querysets(access=access, refresh=refresh, grants=grants)


def remaining(tenant, selection: Selection, issued_before=None) -> int:
    qs = querysets(tenant, selection, issued_before)
    return qs.access.count() + qs.refresh.count() + qs.grants.count()


def revoke_batch(*, tenant, selection: Selection, batch_size: int = BATCH_SIZE, issued_before=None) -> int:
    """Revokes up to ``batch_size`` matching tokens in one transaction; 0 when nothing matches any more."""
    qs = querysets(tenant, selection, issued_before)
    now = timezone.now()
    with transaction.atomic():
        revoked = _revoke_access_batch(qs.access, batch_size=batch_size, now=now,
                                       revoke_refresh=selection.revokes_refresh_tokens)
        if revoked:
            return revoked
        ids = list(qs.refresh.order_by().values_list("pk", flat=True)[:batch_size])
        if ids:
            return RefreshToken.objects.for_tenant(tenant).filter(pk__in=ids, revoked__isnull=True).update(
                revoked=now, updated=now, access_token=None)
        ids = list(qs.grants.order_by().values_list("pk", flat=True)[:batch_size])
        if ids:
            Grant.objects.for_tenant(tenant).filter(pk__in=ids).delete()
        return len(ids)


# One statement per batch of access tokens. The data-modifying CTEs share one snapshot, so the refresh
# tokens revoked are exactly those paired with the access tokens deleted, and no id list travels to Python
# and back (the ORM's delete() loads every row to cascade in Python: 3k tokens/s, bench/README.md). The
# only relation to an access token is its refresh token's SET_NULL pointer, which this statement clears;
# the assertion below fails loudly if another model ever points at AccessToken.
_REVOKE_ACCESS_BATCH = """
WITH batch (id) AS ({select}),
     newly AS (SELECT count(*) AS n FROM {refresh} WHERE access_token_id IN (SELECT id FROM batch)
               AND revoked IS NULL AND %s),
     unpaired AS (UPDATE {refresh} SET access_token_id = NULL,
                      revoked = CASE WHEN %s THEN COALESCE(revoked, %s) ELSE revoked END,
                      updated = CASE WHEN %s AND revoked IS NULL THEN %s ELSE updated END
                  WHERE access_token_id IN (SELECT id FROM batch) RETURNING 1),
     gone AS (DELETE FROM {access} WHERE id IN (SELECT id FROM batch) RETURNING 1)
SELECT (SELECT count(*) FROM gone), (SELECT n FROM newly), (SELECT count(*) FROM unpaired)
"""
assert {(r.name, r.on_delete.__name__) for r in AccessToken._meta.related_objects} == {("refresh_token", "SET_NULL")}, \
    "a model now points at AccessToken: teach revocation._revoke_access_batch about it"


def _revoke_access_batch(access_qs, *, batch_size: int, now, revoke_refresh: bool) -> int:
    select, params = access_qs.order_by().values("pk")[:batch_size].query.sql_with_params()
    if connection.vendor != "postgresql":
        return _revoke_access_batch_portably(select, params, now=now, revoke_refresh=revoke_refresh)
    sql = _REVOKE_ACCESS_BATCH.format(select=select, refresh=RefreshToken._meta.db_table,
                                      access=AccessToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, revoke_refresh, revoke_refresh, now, revoke_refresh, now])
        deleted, newly_revoked, _ = cursor.fetchone()
    return deleted + newly_revoked


def _revoke_access_batch_portably(select: str, params, *, now, revoke_refresh: bool) -> int:
    """The same batch as separate statements, for databases without data-modifying CTEs (SQLite). The
    caller's transaction holds SQLite's one write lock from the first UPDATE on, and the ids are read
    first, so the statements see one set of rows; the ids stay in the database (a temp table)."""
    refresh, access = RefreshToken._meta.db_table, AccessToken._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS revocation_batch (id INTEGER PRIMARY KEY)")
        cursor.execute("DELETE FROM revocation_batch")
        cursor.execute(f"INSERT INTO revocation_batch (id) {select}", params)
        newly_revoked = 0
        if revoke_refresh:
            cursor.execute(f'UPDATE "{refresh}" SET revoked = %s, updated = %s WHERE revoked IS NULL'
                           f" AND access_token_id IN (SELECT id FROM revocation_batch)", [now, now])
            newly_revoked = cursor.rowcount
        cursor.execute(f'UPDATE "{refresh}" SET access_token_id = NULL'
                       f" WHERE access_token_id IN (SELECT id FROM revocation_batch)")
        cursor.execute(f'DELETE FROM "{access}" WHERE id IN (SELECT id FROM revocation_batch)')
        deleted = cursor.rowcount
        cursor.execute("DELETE FROM revocation_batch")
    return deleted + newly_revoked


def revoke_now(*, tenant, selection: Selection, batch_size: int = BATCH_SIZE, progress=None,
               check_cancelled=None, issued_before=None, job=None) -> int:
    """Runs batches until nothing matches; returns how many tokens and codes were revoked. With
    ``issued_before``, only what was issued before it; the marks of ``job`` go with the last, empty batch."""
    done = 0
    while True:
        if check_cancelled is not None:
            check_cancelled()
        # The progress update commits with its batch: after a crash, ``done`` is exactly what was revoked.
        with transaction.atomic():
            revoked = revoke_batch(tenant=tenant, selection=selection, batch_size=batch_size,
                                   issued_before=issued_before)
            if revoked and progress is not None:
                progress(done + revoked)
            if not revoked and job is not None:
                # Nothing the mark covers is left as a live row: it has nothing more to refuse.
                RevocationMark.objects.for_tenant(tenant).filter(job=job).delete()
        if not revoked:
            return done
        done += revoked


def revoke_at_once(*, tenant, client: Application | None = None, user=None, resource: str | None = None) -> int:
    """Revokes what a client, a user and/or a resource (its URI) hold, now and inside the caller's
    transaction: their authorization codes are deleted, then the batches run until nothing matches.
    Returns the access and refresh tokens revoked (the codes are not counted)."""
    selection = Selection(client=client.pk if client is not None else None,
                          user=str(user.pk) if user is not None else None, resource=resource or None)
    querysets(tenant, selection).grants.delete()
    return revoke_now(tenant=tenant, selection=selection)


def _describe(tenant, selection: Selection) -> dict:
    """Readable names for the audit event (ids alone say little in a log)."""
    extra = {}
    if selection.client is not None:
        client = Application.objects.for_tenant(tenant).filter(pk=selection.client).values_list("client_id",
                                                                                                flat=True).first()
        extra["client_id"] = client
    return extra


@transaction.atomic
def revocation_request(*, tenant, actor, request=None, client: Application | None = None, user=None,
                       resource=None, family=None, kid: str | None = None, everything: bool = False,
                       enqueue: bool = True, batch_size: int = BATCH_SIZE) -> JobRun:
    """Queues a revocation job (the console, API and commands call this); returns its job-log row.

    The task is sent after commit, so the worker always finds the row; with the broker down the send
    fails loudly (the row stays queued and ``revocation_resume_queued`` hands it out again later).
    """
    if client is not None and client.tenant_id != tenant.pk:
        raise OAuthServiceError("that client belongs to another tenant", field="client")
    if isinstance(resource, MCPResource):
        if resource.tenant_id != tenant.pk:
            raise OAuthServiceError("that resource belongs to another tenant", field="resource")
        resource = resource.uri
    selection = Selection(client=client.pk if client else None, user=str(user.pk) if user is not None else None,
                          resource=resource or None, family=str(family) if family else None, kid=kid or None,
                          everything=everything)
    params = selection.as_params()
    if batch_size != BATCH_SIZE:
        params["batch_size"] = max(1, int(batch_size))
    marked = selection.family is None
    issued_before = timezone.now()
    if marked:
        # In the job's params, not only on the mark: a run resumed after its mark went still purges
        # only what the mark covered.
        params["issued_before"] = issued_before.isoformat()
    run = job_enqueue(REVOKE_JOB, tenant=tenant, params=params)
    codes = 0
    if marked:
        _mark(tenant, selection, issued_before, run)
        codes, _ = querysets(tenant, selection).grants.delete()
    audit.record(tenant, actor, "tokens.revocation_requested", run, request, job=str(run.pk),
                 **selection.as_params(), **_describe(tenant, selection),
                 **({"issued_before": params["issued_before"], "codes_deleted": codes} if marked else {}))
    if enqueue:  # a management command runs the job in its own process instead
        transaction.on_commit(lambda: send(run.pk))
    return run


@transaction.atomic
def tenant_access_end(*, tenant, actor, request=None) -> JobRun:
    """A suspended tenant's grants end now: one mark refuses every token issued before it (the job purges
    behind it) and every consent goes, so reactivation brings back no session-era access on its own."""
    run = revocation_request(tenant=tenant, actor=actor, request=request, everything=True)
    consents, _ = Consent.objects.for_tenant(tenant).delete()
    audit.record(tenant, actor, "access.tenant_ended", tenant, request, job=str(run.pk), consents_deleted=consents)
    return run


def _mark(tenant, selection: Selection, issued_before, run) -> RevocationMark:
    return RevocationMark.objects.create(
        tenant=tenant, job=run, issued_before=issued_before, application_id=selection.client,
        user_id=selection.user, audience=selection.resource or "", kid=selection.kid or "",
        everything=selection.everything)


def send(run_id) -> bool:
    """Hands a queued run to the workers. With the broker unreachable the error is logged and written on
    the run (the console shows it); the run stays queued and resume_stalled_jobs sends it again."""
    try:
        enqueue(REVOKE_TASK, str(run_id))
    except Exception as exc:  # kombu's OperationalError and friends: the broker is down
        log.error("could not queue revocation job %s (%s); it stays queued and is sent again once the broker "
                  "is back", run_id, exc)
        JobRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
            error=f"not yet sent to a worker: broker unreachable ({exc.__class__.__name__}); retried automatically")
        return False
    JobRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).exclude(error="").update(error="")
    return True


def revocation_run(*, run_id, batch_size: int | None = None, on_batch=None) -> JobRun | None:
    """Runs (or resumes) a queued revocation job. Returns None when there is nothing to do: the run is
    gone (its tenant was deleted) or already finished (a duplicate delivery). ``on_batch`` is called after
    each batch with (done, total): the task renews its lease there, a command draws its progress bar."""
    run = JobRun.objects.select_related("tenant").filter(pk=run_id, name=REVOKE_JOB).first()
    if run is None or run.tenant is None or run.status not in RESUMABLE:
        return None
    tenant = run.tenant
    selection = Selection.from_params(run.params)
    # Runs queued before marks existed have none: they revoke everything that matches, as they did.
    issued_before = parse_datetime(run.params["issued_before"]) if run.params.get("issued_before") else None
    batch_size = batch_size or run.params.get("batch_size") or BATCH_SIZE
    with job_run(REVOKE_JOB, tenant=tenant, run=run) as job:
        if run.cancel_requested:
            raise JobCancelled()
        # done/total count this run's work across restarts: what was revoked before a crash stays counted.
        base = run.done
        total = base + remaining(tenant, selection, issued_before)
        job.progress(base, total)

        def progress(n):
            job.progress(base + n)
            if on_batch is not None:
                on_batch(base + n, total)

        try:
            revoked = revoke_now(tenant=tenant, selection=selection, batch_size=batch_size, progress=progress,
                                 check_cancelled=job.check_cancelled, issued_before=issued_before, job=run)
        except Exception:
            # The failing batch rolled back with its progress row: keep the committed count, not the
            # in-memory one, so a retry resumes from the truth.
            job.run.done = JobRun.objects.filter(pk=run.pk).values_list("done", flat=True).first() or 0
            raise
        job.run.done = base + revoked
        job.run.result = {"revoked": base + revoked}
    return job.run


def revocation_stalled(*, lease_alive, queued_for: timedelta | None = None) -> list[str]:
    """Revocation runs to hand out again: queued for a while (the broker was down when they were sent)
    or running with no live lease (their worker died). Safe to repeat: a delivered duplicate finds the
    run finished or leased and ends, and every batch re-selects what still matches."""
    queued_for = timedelta(seconds=settings.JOB_LEASE_SECONDS) if queued_for is None else queued_for
    runs = JobRun.objects.filter(name=REVOKE_JOB).filter(
        Q(status=JobStatus.QUEUED, created_at__lt=timezone.now() - queued_for) | Q(status=JobStatus.RUNNING))
    return [str(pk) for pk in runs.values_list("pk", flat=True)[:100] if not lease_alive(pk)]


# --- purge ----------------------------------------------------------------------------------------

def _purge_querysets(now) -> list:
    """What can go for good: nothing here is a live credential, and nothing a live one depends on."""
    # An expired access token whose refresh token still lives stays: the refresh grant needs the pair.
    live_pairs = RefreshToken.objects.unscoped().filter(revoked__isnull=True, access_token__isnull=False)
    access = AccessToken.objects.unscoped().filter(expires__lt=now).exclude(
        pk__in=live_pairs.values("access_token_id"))
    summarised_until = summaries.summarised_until()
    if summarised_until is not None:  # a machine token goes once the audit summary has counted it
        access = access.exclude(grant_type__in=summaries.SUMMARISED_GRANTS, created__gte=summarised_until)
    # Revoked refresh tokens are kept as long as a replay of them could still be attempted (reuse
    # detection revokes the family), i.e. the tenant's refresh lifetime after revocation.
    default = TenantAuthSettings._meta.get_field("refresh_token_lifetime").default
    custom = dict(TenantAuthSettings.objects.unscoped().values_list("tenant_id", "refresh_token_lifetime"))
    refresh_rule = Q(revoked__lt=now - timedelta(seconds=default)) & ~Q(tenant_id__in=list(custom))
    for lifetime in set(custom.values()):
        tenants = [t for t, life in custom.items() if life == lifetime]
        refresh_rule |= Q(tenant_id__in=tenants, revoked__lt=now - timedelta(seconds=lifetime))
    refresh = RefreshToken.objects.unscoped().filter(refresh_rule)
    grants = Grant.objects.unscoped().filter(expires__lt=now)
    # An ID token is referenced by its access token with CASCADE: only orphans go.
    id_tokens = IDToken.objects.unscoped().filter(expires__lt=now, access_token__isnull=True)
    assertions = ClientAssertion.objects.unscoped().filter(expires_at__lt=now)
    return [("access_tokens", access), ("refresh_tokens", refresh), ("codes", grants), ("id_tokens", id_tokens),
            ("client_assertions", assertions)]


def purge_expired(*, batch_size: int = BATCH_SIZE, check_cancelled=None, progress=None) -> dict:
    """Deletes expired tokens, codes and assertions platform-wide, in batches; returns counts per kind."""
    now = timezone.now()
    counts, done = {}, 0
    for kind, qs in _purge_querysets(now):
        counts[kind] = 0
        while True:
            if check_cancelled is not None:
                check_cancelled()
            ids = list(qs.order_by().values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                if kind == "access_tokens":
                    RefreshToken.objects.unscoped().filter(access_token_id__in=ids).update(access_token=None)
                deleted, _ = qs.model.objects.unscoped().filter(pk__in=ids).delete()
            counts[kind] += len(ids)
            done += len(ids)
            if progress is not None:
                progress(done)
    return counts


def purge_run() -> JobRun | None:
    if not any(qs.exists() for _, qs in _purge_querysets(timezone.now())):
        return None  # nothing expired: no job-log row, no audit noise
    with job_run(PURGE_JOB) as job:
        job.run.result = purge_expired(check_cancelled=job.check_cancelled, progress=job.progress)
        job.run.done = sum(job.run.result.values())
    return job.run

