"""The three machine endpoints of the lean path (what may be answered here: oauth/lean/__init__.py).

``answer`` returns (status, headers, body) or None, and None means: Django answers this request. It has no
side effect that Django's answer would not have: a rate-limit count taken before stepping aside is given
back, and a token row is written only for the answer that hands the token out.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl, unquote_plus

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from kit import ratelimit
from kit.db import insert_row
from kit.tenancy import bind_tenant, unbind_tenant
from kit.tenant_cache import generation_pipelined, generation_scope
from tenants.selectors import known_tenant_id, tenant_by_slug

from ..grants import services as grant_services
from ..grants.selectors import access_token_facts, own_access_token
from ..models import AuthMethod
from ..protocol import targets
from ..protocol.cache import cached_client
from ..protocol.client_auth import secret_matches
from ..protocol.endpoints.common import (
    CONTROL_CHARACTER,
    MAX_PARAMETER_LENGTH,
    RATE_WINDOW,
    claimed_client_id_of,
    rate_limit_name,
)
from ..protocol.endpoints.introspect import access_token_description
from ..protocol.tokens import access_token_claims, access_token_row, sign_access_token, target_lifetime

FORM = "application/x-www-form-urlencoded"
CREDENTIALS = frozenset({"client_id", "client_secret"})
# What oauthlib's and the views' answers carry (oauthlib's default headers, oauth/protocol/endpoints/common.no_store).
JSON_NO_STORE = [("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache")]

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class LeanRequest:
    endpoint: str  # "token", "introspect" or "revoke"
    slug: str
    authorization: str  # the Authorization header, "" without one
    content_type: str
    body: bytes


def parse_form(body: bytes, content_type: str, fields: frozenset) -> dict[str, str] | None:
    """The form as Django's ``request.POST`` reads it, or None where this parser could differ from it or
    where Django's answer is a refusal: another content type, non-ASCII bytes, a parameter outside
    ``fields``, repeated or empty, or one ``refuse_malformed`` refuses (control characters, too long)."""
    if content_type.strip().lower() != FORM:
        return None
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, errors="strict", max_num_fields=len(fields))
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name not in fields or name in form or not value or len(value) > MAX_PARAMETER_LENGTH \
                or CONTROL_CHARACTER.search(value):
            return None
        form[name] = value
    return form


def authenticated_client(tenant, authorization: str, form: dict):
    """The client if DOT's validator (TenantOAuth2Validator.authenticate_client) would authenticate it by
    client_secret_basic or client_secret_post, from the process's copy of the row; else None (Django
    answers, refusal or an authentication method this path leaves to DOT)."""
    if authorization:
        if CREDENTIALS & form.keys():
            return None  # Basic and form credentials together: DOT's precedence, not re-implemented here
        scheme, _, encoded = authorization.partition(" ")
        if scheme != "Basic" or not encoded:
            return None
        try:  # exactly DOT's decoding (_authenticate_basic_auth), so both name the same client
            client_id, secret = map(unquote_plus, base64.b64decode(encoded).decode("utf-8").split(":", 1))
        except ValueError:  # binascii.Error, UnicodeDecodeError, no colon
            return None
    else:
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not secret or "://" in client_id or "\x00" in client_id or len(client_id) > 255:
        return None  # CIMD clients (a URL) are DOT's: their documents are fetched there
    client = cached_client(tenant, client_id)
    if client is None or client.client_id != client_id or not client.is_usable(None) \
            or client.token_endpoint_auth_method not in (AuthMethod.SECRET_BASIC, AuthMethod.SECRET_POST) \
            or not secret_matches(client, secret):
        return None
    client.tenant = tenant
    return client


def _scopes_valid(scope: str) -> bool:
    """oauthlib's split of ``scope`` and TenantOAuth2Validator.validate_scopes."""
    return all(0 < len(s) <= 100 and s.isprintable() for s in scope.strip().split(" "))


def client_credentials(tenant, client, form: dict) -> Answer | None:
    if "client_credentials" not in client.grant_type_list:
        return None
    scope = form.get("scope")
    if scope is not None and not _scopes_valid(scope):
        return None
    try:
        target = targets.resolve(tenant=tenant, client=client, resources=[form["resource"]] if "resource" in form
                                 else [], scopes=scope.split() if scope else None, grant_type="client_credentials")
    except targets.TargetError:
        return None
    lifetime = target_lifetime(tenant, target)
    claims = access_token_claims(tenant, subject=client.public_client_id, client=client, target=target,
                                 lifetime=lifetime)
    token, kid = sign_access_token(tenant, claims)
    # Written (and committed: autocommit, no transaction around it) before the answer leaves: introspection
    # and revocation know every token handed out, whatever happens to this process after.
    insert_row(access_token_row(tenant, client=client, user=None, target=target, scope=target.scope,
                                expires=timezone.now() + timedelta(seconds=lifetime), token=token,
                                jti=claims["jti"], kid=kid, grant_type="client_credentials"))
    body = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer", "scope": target.scope}
    return 200, JSON_NO_STORE, json.dumps(body).encode()


def introspection(tenant, client, form: dict) -> Answer | None:
    facts = access_token_facts(tenant, form["token"])
    if facts is None:
        return None  # inactive, or perhaps a refresh token: Django looks further and answers
    return 200, JSON_NO_STORE, json.dumps(access_token_description(tenant, facts), cls=DjangoJSONEncoder).encode()


def revocation(tenant, client, form: dict) -> Answer | None:
    row = own_access_token(tenant, client, form["token"])
    if row is None:
        return None  # a refresh token, or nothing of this client's: Django looks further and answers
    row.tenant = tenant
    grant_services.token_revoke(token_row=row, actor=client)
    return 200, JSON_NO_STORE, b""


@dataclass(frozen=True)
class Endpoint:
    fields: frozenset
    handle: object
    rate_limited: str = ""  # the rate limit Django's view counts (oauth/protocol/endpoints/common.rate_limited)
    limit_setting: str = ""

    def admits(self, form: dict) -> bool:
        if self.handle is client_credentials:
            return form.get("grant_type") == "client_credentials"
        return "token" in form and form.get("token_type_hint", "access_token") == "access_token"


ENDPOINTS = {
    "token": Endpoint(CREDENTIALS | {"grant_type", "scope", "resource"}, client_credentials, "token",
                      "TOKEN_RATE_PER_CLIENT"),
    "introspect": Endpoint(CREDENTIALS | {"token", "token_type_hint"}, introspection, "introspect",
                           "INTROSPECTION_RATE_PER_CALLER"),
    "revoke": Endpoint(CREDENTIALS | {"token", "token_type_hint"}, revocation),
}


def answer(request: LeanRequest) -> Answer | None:
    endpoint = ENDPOINTS.get(request.endpoint)
    if endpoint is None:
        return None
    form = parse_form(request.body, request.content_type, endpoint.fields)
    if form is None or not endpoint.admits(form):
        return None
    tenant_id = known_tenant_id(request.slug)  # None until Django has served this tenant in this process
    caller = claimed_client_id_of(request.authorization, form.get("client_id", ""))
    if tenant_id is None or not caller:
        return None
    rate_name = rate_limit_name(endpoint.rate_limited, tenant_id, caller) if endpoint.rate_limited else ""
    with generation_scope():
        counted = generation_pipelined(tenant_id, lambda pipe: rate_name and ratelimit.queue_hit(
            pipe, rate_name, window=RATE_WINDOW))
        if counted is None:
            return None  # no Redis cache, or Redis did not answer: Django's fail-soft paths decide
        answered = None
        try:
            if not rate_name or int(counted[0]) <= getattr(settings, endpoint.limit_setting):
                answered = _answer_for_tenant(endpoint, request, tenant_id, form)
        finally:
            if answered is None and rate_name:  # Django counts this request itself
                ratelimit.hit(rate_name, window=RATE_WINDOW, fail_open=True, amount=-1)
        return answered


def _answer_for_tenant(endpoint: Endpoint, request: LeanRequest, tenant_id, form: dict) -> Answer | None:
    tenant = tenant_by_slug(request.slug)
    if tenant is None or tenant.pk != tenant_id or not tenant.is_active:
        return None
    bound = bind_tenant(tenant)
    try:
        client = authenticated_client(tenant, request.authorization, form)
        return endpoint.handle(tenant, client, form) if client is not None else None
    finally:
        unbind_tenant(bound)
