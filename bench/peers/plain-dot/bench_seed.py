"""The plain-DOT peer's side of the benchmark (mirrors bench/seed.py of the platform):

    python bench_seed.py setup                  # clients (setup_app.py) + a public PKCE client and a user
    python bench_seed.py codes N FILE           # N authorization codes -> token request bodies
    python bench_seed.py refresh N FILE         # N refresh tokens with their access tokens -> bodies
    python bench_seed.py sql                    # SQL statements per request (JSON)
"""
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta
from urllib.parse import urlencode

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproj.settings")
import django  # noqa: E402

django.setup()
from django.contrib.auth import get_user_model  # noqa: E402
from django.utils import timezone  # noqa: E402
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken  # noqa: E402

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
RESOURCE = "https://mcp.example.test/"
REDIRECT_URI = "http://127.0.0.1:33418/callback"
VERIFIER = "bench-verifier-" + "x" * 50
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()


def app():
    return Application.objects.get(client_id="bench-app")


def setup():
    subprocess.run([sys.executable, "setup_app.py"], check=True, stdout=subprocess.DEVNULL)
    user, _ = get_user_model().objects.get_or_create(username="owner")
    Application.objects.filter(client_id="bench-app").delete()
    Application.objects.create(client_id="bench-app", client_secret="", user=user, name="bench-app",
                               client_type=Application.CLIENT_PUBLIC, redirect_uris=REDIRECT_URI,
                               authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE)


def analyze(*models):
    """Fresh planner statistics after a bulk insert (as the platform's bench/seed.py does)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(m._meta.db_table for m in models)}")


def codes(n, path):
    a, user = app(), get_user_model().objects.get(username="owner")
    values = [secrets.token_urlsafe(30) for _ in range(n)]
    expires = timezone.now() + timedelta(hours=1)
    Grant.objects.bulk_create([Grant(application=a, user=user, code=v, expires=expires, redirect_uri=REDIRECT_URI,
                                     scope="mcp:tools", code_challenge=CHALLENGE, code_challenge_method="S256")
                               for v in values], batch_size=2000)
    analyze(Grant)
    with open(path, "w") as out:
        for v in values:
            out.write(urlencode({"grant_type": "authorization_code", "code": v, "redirect_uri": REDIRECT_URI,
                                 "client_id": a.client_id, "code_verifier": VERIFIER}) + "\n")


def refresh(n, path):
    a, user = app(), get_user_model().objects.get(username="owner")
    expires = timezone.now() + timedelta(hours=1)
    rows = []
    for _ in range(n):
        at, rt = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        rows.append((rt, AccessToken(application=a, user=user, token=at,
                                     token_checksum=hashlib.sha256(at.encode()).hexdigest(),
                                     expires=expires, scope="mcp:tools"),
                     RefreshToken(application=a, user=user, token=rt,
                                  token_checksum=hashlib.sha256(rt.encode()).hexdigest())))
    AccessToken.objects.bulk_create([r[1] for r in rows], batch_size=2000)
    for _, access, rt in rows:
        rt.access_token = access
    RefreshToken.objects.bulk_create([r[2] for r in rows], batch_size=2000)
    analyze(AccessToken, RefreshToken)
    with open(path, "w") as out:
        for value, _, _ in rows:
            out.write(urlencode({"grant_type": "refresh_token", "refresh_token": value,
                                 "client_id": a.client_id}) + "\n")


def sql():
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    http, out = Client(), {}
    auth = "Basic " + base64.b64encode(f"bench-client:{SECRET}".encode()).decode()

    def count(call):
        call()
        with CaptureQueriesContext(connection) as captured:
            response = call()
        assert response.status_code == 200, (response.status_code, response.content[:300])
        return len(captured.captured_queries), response

    out["client_credentials"], response = count(lambda: http.post(
        "/o/token/", {"grant_type": "client_credentials", "scope": "mcp:tools"}, HTTP_AUTHORIZATION=auth))
    token = response.json()["access_token"]
    out["introspection"], _ = count(lambda: http.post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=auth))
    for kind, mint in (("authorization_code", codes), ("refresh", refresh)):
        mint(2, "/tmp/_dot_sql.txt")
        bodies = iter(open("/tmp/_dot_sql.txt").read().splitlines())
        out[kind], _ = count(lambda bodies=bodies: http.post("/o/token/", next(bodies),
                                               content_type="application/x-www-form-urlencoded"))
    os.unlink("/tmp/_dot_sql.txt")
    print(json.dumps(out))


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"setup": lambda: setup(), "codes": lambda: codes(int(args[0]), args[1]),
     "refresh": lambda: refresh(int(args[0]), args[1]), "sql": lambda: sql()}[command]()
