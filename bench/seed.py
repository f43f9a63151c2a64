"""The platform side of the benchmark: fixtures, pre-minted codes and refresh tokens, extra tenants, and
SQL statements per request. Runs inside Django with the benchmark's production settings:

    python -m bench.seed setup                     # tenants bench-rs (RS256) and bench-es (ES256), clients
    python -m bench.seed codes SLUG N FILE         # N authorization codes -> one token request body per line
    python -m bench.seed refresh SLUG N FILE       # N live refresh tokens -> one token request body per line
    python -m bench.seed tenants N                 # grow to N tenants (each with key, resource, clients, tokens)
    python -m bench.seed sql                       # SQL statements per request of each hot endpoint (JSON)

Clients, resources and keys of the two benchmark tenants go through the real services (with their audit
events); codes, refresh tokens and the thousands of extra tenants are bulk-inserted rows shaped exactly
as the services would write them, because minting 10,000 tenants one RSA key at a time takes an hour.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

FIXTURE = Path(os.environ.get("BENCH_VAR", "var/bench")) / "fixture.json"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
VERIFIER = "bench-verifier-" + "x" * 50  # one PKCE pair for all pre-minted codes: the check still runs
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
TENANTS = {"bench-rs": "RS256", "bench-es": "ES256"}


def resource_uri(slug: str) -> str:
    return f"https://mcp.{slug}.example/mcp"  # resource URIs are unique platform-wide


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")
    import django

    django.setup()


def _actor():
    from audit.services import Actor

    return Actor("system", "", "bench")


def setup() -> dict:
    """Idempotent: the two benchmark tenants, each with a resource, an agent, a public client with a user
    and a resource server that introspects. Secrets are shown once, so a rerun rotates them."""
    from identity.models import User
    from mcp_registry.models import MCPResource, ResourceScope
    from oauth.clients import services as client_services
    from oauth.config import services as config_services
    from oauth.models import Application
    from oauth.signing import services as signing_services
    from tenants.models import Membership, Role, Tenant
    from tenants.services import tenant_create

    fixture = {"redirect_uri": REDIRECT_URI, "verifier": VERIFIER, "tenants": {}}
    user, _ = User.objects.get_or_create(email="bench-user@bench.example")
    for slug, alg in TENANTS.items():
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(slug=slug, name=slug, actor=_actor())
        # The bench user's tokens count only while they are a member (oauth.grants.selectors.presentable).
        Membership.objects.get_or_create(tenant=tenant, user=user, defaults={"role": Role.MEMBER})
        if config_services.tenant_auth_settings(tenant).signing_alg != alg:
            config_services.tenant_auth_settings_update(tenant=tenant, actor=_actor(), signing_alg=alg)
            signing_services.key_rotate(tenant=tenant, actor=_actor(), alg=alg)
        resource = MCPResource.objects.for_tenant(tenant).filter(name="bench").first()
        if resource is None:
            resource = MCPResource.objects.create(tenant=tenant, name="bench", uri=resource_uri(slug),
                                                  display_name="Bench MCP")
            ResourceScope.objects.create(resource=resource, name="mcp:tools", description="Use tools",
                                         granted_by_default=True)
            ResourceScope.objects.create(resource=resource, name="mcp:resources", description="Read resources",
                                         granted_by_default=False)
        entry = {"alg": alg, "resource": resource.uri}
        for role, public, grants in (("agent", False, ["client_credentials"]),
                                     ("rs", False, ["client_credentials"]),
                                     ("app", True, ["authorization_code", "refresh_token"])):
            client = Application.objects.for_tenant(tenant).filter(name=f"bench-{role}").first()
            secret = None
            if client is None:
                client, secret = client_services.client_create(
                    tenant=tenant, name=f"bench-{role}", client_type="public" if public else "confidential",
                    grant_types=grants, redirect_uris=[REDIRECT_URI] if public else [],
                    allowed_resources=[resource], actor=_actor())
            elif not public:
                secret = client_services.client_rotate_secret(client=client, actor=_actor())
            entry[role] = {"client_id": client.client_id, "secret": secret}
        fixture["tenants"][slug] = entry
        _open_registration(tenant)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(json.dumps(fixture, indent=2))
    return fixture


def _open_registration(tenant) -> None:
    """Dynamic Client Registration open and its rate limits at their maximum, so that the `dcr` scenario
    measures registration, not the limiter (when the registration endpoint is part of the platform)."""
    try:
        from oauth.registration.services import policy_update
    except ImportError:
        return
    policy_update(tenant=tenant, actor=_actor(), dcr_mode="open", address_rate_per_minute=10_000,
                  tenant_rate_per_minute=100_000)


def _fixture() -> dict:
    return json.loads(FIXTURE.read_text())


def _app(slug: str):
    from oauth.models import Application
    from tenants.models import Tenant

    tenant = Tenant.objects.get(slug=slug)
    client_id = _fixture()["tenants"][slug]["app"]["client_id"]
    return tenant, Application.objects.for_tenant(tenant).get(client_id=client_id)


def _user():
    from identity.models import User

    return User.objects.get(email="bench-user@bench.example")


def _code_at_rest(code: str) -> str:
    """What the authorization endpoint stores for a code: its sha256 (a database dump redeems none)."""
    from oauth.grants.services import checksum

    return checksum(code)


def _analyze(*models) -> None:
    """Fresh planner statistics after a bulk insert, as autovacuum keeps them in steady state: with the
    statistics of an empty table PostgreSQL scans a client's every token instead of using the checksum
    index (12 ms instead of 0.1 ms per refresh lookup). bench_seed.py does the same for plain DOT."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(m._meta.db_table for m in models)}")


def mint_codes(slug: str, n: int, path: str) -> None:
    """N authorization codes as the authorization endpoint stores them (PKCE S256, resource, 1 h expiry
    instead of 60 s so that they survive until wrk sends them)."""
    from django.utils import timezone

    from oauth.models import Grant

    tenant, app = _app(slug)
    expires, user = timezone.now() + timedelta(hours=1), _user()
    codes = [secrets.token_urlsafe(30) for _ in range(n)]
    Grant.objects.bulk_create([
        Grant(tenant=tenant, application=app, user=user, code=_code_at_rest(code), expires=expires,
              redirect_uri=REDIRECT_URI,
              scope="mcp:tools", code_challenge=CHALLENGE, code_challenge_method="S256",
              resource=[resource_uri(slug)])
        for code in codes], batch_size=2000)
    _analyze(Grant)
    with open(path, "w") as out:
        for code in codes:
            out.write(urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                                 "client_id": app.client_id, "code_verifier": VERIFIER}) + "\n")


def _token_pair(tenant, app, user, expires, resource: str):
    from oauth.models import AccessToken, RefreshToken

    value = secrets.token_urlsafe(32)
    access = AccessToken(tenant=tenant, application=app, user=user, token="",
                         token_checksum=hashlib.sha256(uuid.uuid4().bytes).hexdigest(), expires=expires,
                         scope="mcp:tools", resource=[resource], audience=resource, jti=uuid.uuid4().hex,
                         grant_type="authorization_code")
    refresh = RefreshToken(tenant=tenant, application=app, user=user, token="",
                           token_checksum=hashlib.sha256(value.encode()).hexdigest(),
                           token_family=uuid.uuid4(), resource=[resource], audience=resource)
    return value, access, refresh


def mint_refresh(slug: str, n: int, path: str) -> None:
    """N live refresh tokens, each with its access token, as an authorization_code exchange leaves them."""
    from django.utils import timezone

    from oauth.models import AccessToken, RefreshToken

    tenant, app = _app(slug)
    expires, user = timezone.now() + timedelta(hours=1), _user()
    triples = [_token_pair(tenant, app, user, expires, resource_uri(slug)) for _ in range(n)]
    AccessToken.objects.bulk_create([a for _, a, _ in triples], batch_size=2000)
    for _, access, refresh in triples:
        refresh.access_token = access
    RefreshToken.objects.bulk_create([r for _, _, r in triples], batch_size=2000)
    _analyze(AccessToken, RefreshToken)
    with open(path, "w") as out:
        for value, _, _ in triples:
            out.write(urlencode({"grant_type": "refresh_token", "refresh_token": value,
                                 "client_id": app.client_id}) + "\n")


def grow_tenants(total: int, tokens_each: int = 5) -> int:
    """Adds tenants named scale-<i> until there are ``total`` scale tenants, each with an active ES256
    key, a resource with scopes, an agent, a public client and a few live token pairs: the tables the
    hot path reads grow with the tenants. Returns how many were added."""
    from django.db import transaction
    from django.utils import timezone

    from mcp_registry.models import MCPResource, ResourceScope
    from oauth.models import AccessToken, Application, KeyState, RefreshToken, SigningKey
    from oauth.signing import keys
    from tenants.models import Membership, Role, Tenant

    have = Tenant.objects.filter(slug__startswith="scale-").count()
    user, now = _user(), timezone.now()
    added, batch = 0, 500
    while have + added < total:
        n = min(batch, total - have - added)
        with transaction.atomic():
            first = have + added
            tenants = Tenant.objects.bulk_create([Tenant(slug=f"scale-{first + i}", name=f"Scale {first + i}")
                                                  for i in range(n)])
            rows = []
            for tenant in tenants:
                kid, private, public = keys.generate("ES256")
                rows.append(SigningKey(tenant=tenant, kid=kid, alg="ES256", state=KeyState.ACTIVE,
                                       private_key=private, public_jwk=public, activated_at=now))
            SigningKey.objects.bulk_create(rows)
            Membership.objects.bulk_create([Membership(tenant=t, user=user, role=Role.MEMBER) for t in tenants])
            resources = MCPResource.objects.bulk_create([
                MCPResource(tenant=t, name="mcp", uri=f"https://mcp.{t.slug}.example/mcp", display_name="MCP")
                for t in tenants])
            ResourceScope.objects.bulk_create([
                ResourceScope(tenant_id=r.tenant_id, resource=r, name=name, description=name,
                              granted_by_default=default)
                for r in resources for name, default in (("mcp:tools", True), ("mcp:resources", False))])
            apps = Application.objects.bulk_create([
                Application(tenant=t, name=f"{kind}-{t.slug}", client_id=f"{kind}-{t.slug}",
                            client_type=ctype, authorization_grant_type=grant, grant_types=grants,
                            token_endpoint_auth_method=method, client_secret="", hash_client_secret=False,
                            redirect_uris=REDIRECT_URI if kind == "app" else "")
                for t in tenants for kind, ctype, grant, grants, method in (
                    ("agent", "confidential", "client-credentials", "client_credentials", "client_secret_basic"),
                    ("app", "public", "authorization-code", "authorization_code refresh_token", "none"))])
            through = Application.allowed_resources.through
            by_tenant = {r.tenant_id: r for r in resources}
            through.objects.bulk_create([through(application_id=a.pk, mcpresource_id=by_tenant[a.tenant_id].pk)
                                         for a in apps])
            pairs = [_token_pair(a.tenant, a, user, now + timedelta(hours=1), by_tenant[a.tenant_id].uri)
                     for a in apps if a.client_type == "public" for _ in range(tokens_each)]
            AccessToken.objects.bulk_create([p[1] for p in pairs])
            for _, access, refresh in pairs:
                refresh.access_token = access
            RefreshToken.objects.bulk_create([p[2] for p in pairs])
        added += n
        print(f"  tenants: {have + added}/{total}", file=sys.stderr, flush=True)
    return added


def _count(call) -> tuple[int, object]:
    """Statements of one warm request (a first call fills the caches, as on a running server)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    call()
    with CaptureQueriesContext(connection) as captured:
        response = call()
    assert response.status_code == 200, (response.status_code, response.content[:300])
    if os.environ.get("BENCH_SQL_VERBOSE"):
        print("\n".join(q["sql"][:160] for q in captured.captured_queries) + "\n", file=sys.stderr)
    return len(captured.captured_queries), response


def _basic(credentials: dict) -> str:
    return "Basic " + base64.b64encode(f"{credentials['client_id']}:{credentials['secret']}".encode()).decode()


def _sql_of_tenant(http, slug: str, entry: dict) -> dict:
    form = "application/x-www-form-urlencoded"
    out = {}
    cc_body = urlencode({"grant_type": "client_credentials", "resource": entry["resource"]})
    out[f"client_credentials {entry['alg']}"], token = _count(
        lambda: http.post(f"/t/{slug}/token", cc_body, content_type=form, HTTP_AUTHORIZATION=_basic(entry["agent"])))
    introspect_body = urlencode({"token": token.json()["access_token"]})
    out["introspection"], _ = _count(lambda: http.post(f"/t/{slug}/introspect", introspect_body, content_type=form,
                                                       HTTP_AUTHORIZATION=_basic(entry["rs"])))
    out["jwks"], _ = _count(lambda: http.get(f"/t/{slug}/jwks.json"))
    out["metadata"], _ = _count(lambda: http.get(f"/.well-known/oauth-authorization-server/t/{slug}"))
    for kind, mint in (("authorization_code", mint_codes), ("refresh", mint_refresh)):
        path = FIXTURE.parent / f"sql-{kind}.txt"
        mint(slug, 2, str(path))
        bodies = iter(path.read_text().splitlines())
        out[kind], _ = _count(lambda bodies=bodies: http.post(f"/t/{slug}/token", next(bodies), content_type=form))
    return out


def sql_per_request() -> dict:
    """Statements each hot endpoint runs for one warm request, counted by Django on the real database
    (BEGIN is not reported; SAVEPOINT, RELEASE and COMMIT are)."""
    from django.test import Client

    out = {}
    for slug, entry in _fixture()["tenants"].items():
        out.update(_sql_of_tenant(Client(), slug, entry))
    return out


def main(argv: list[str]) -> None:
    _django()
    command, args = argv[0], argv[1:]
    if command == "setup":
        setup()
    elif command == "codes":
        mint_codes(args[0], int(args[1]), args[2])
    elif command == "refresh":
        mint_refresh(args[0], int(args[1]), args[2])
    elif command == "tenants":
        grow_tenants(int(args[0]))
    elif command == "sql":
        print(json.dumps(sql_per_request()))
    else:
        raise SystemExit(f"unknown command '{command}': use setup, codes, refresh, tenants or sql")


if __name__ == "__main__":
    main(sys.argv[1:])
