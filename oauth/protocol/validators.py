"""The tenant-aware OAuth2Validator (ARCHITECTURE §3).

oauthlib calls the validator with its own request object only; the tenant comes from the ContextVar
that the tenant middleware set. Every lookup DOT makes is narrowed to that tenant here, explicitly,
and again by the tenant-scoped managers. Without a bound tenant nothing is found.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.oauth2.rfc6749 import errors
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256

from kit.db import delete_where, insert_row, instances_from_row, model_columns, select_one
from kit.tenancy import get_current_tenant

from ..config.selectors import tenant_settings
from ..grants import services as grant_services
from ..grants import summaries
from ..grants.selectors import presentable, token_checksum
from ..models import GRANT_TYPES, AccessToken, Application, AuthMethod, Grant, IDToken, RefreshToken
from ..signing import keys
from . import client_auth, registration_hooks, targets
from .cache import cached_client
from .tokens import access_token_row

log = logging.getLogger(__name__)


def _tenant():
    return get_current_tenant()


def _grant_by_code(tenant_id, digest: str):
    return Grant.objects.unscoped().filter(tenant_id=tenant_id, code=digest).values_list(
        *model_columns(Grant, "user"))[:1]


def _grant_by_id(tenant_id, grant_id):
    return Grant.objects.unscoped().filter(tenant_id=tenant_id, pk=grant_id)


def _presentable_refresh(tenant_id, checksum: str, client_id):
    return presentable(RefreshToken.objects.unscoped().filter(
        tenant_id=tenant_id, token_checksum=checksum, application_id=client_id)).order_by("-created").values_list(
        *model_columns(RefreshToken, "access_token", "user"))[:1]


def _body_values(request, name: str) -> list[str]:
    return [v for k, v in (getattr(request, "decoded_body", None) or []) if k == name]


class TenantOAuth2Validator(OAuth2Validator):
    oidc_claim_scope = {"sub": "openid", "name": "profile", "email": "email", "email_verified": "email"}

    # --- clients ----------------------------------------------------------------------------------

    def _load_application(self, client_id, request):
        tenant = _tenant()
        cached = getattr(request, "client", None)
        if isinstance(cached, Application) and cached.public_client_id == client_id and cached.tenant_id == getattr(
                tenant, "pk", None):
            return cached if cached.is_usable(request) else None
        request.client = None
        if tenant is None or not isinstance(client_id, str) or not client_id or "\x00" in client_id \
                or len(client_id) > 255:
            return None
        if "://" in client_id:  # a Client ID Metadata Document URL, fetched per tenant (oauth/registration/cimd.py)
            try:
                client = registration_hooks.cimd_client(tenant, client_id, request)
            except ValueError:  # a URL urllib cannot even parse (e.g. "http://[::1"): no such client
                client = None
        else:
            client = cached_client(tenant, client_id)
            if client is None:  # the failure path only: is it another tenant's client id?
                grant_services.cross_tenant_client_record(tenant=tenant, client_id=client_id)
        if client is None or not client.is_usable(request):
            return None
        client.tenant = tenant  # the bound tenant is this row's tenant: spare the query
        request.client = client
        return client

    def _check_secret(self, provided_secret, stored_secret):
        from kit.crypto import secret_matches

        return bool(stored_secret) and secret_matches(provided_secret or "", stored_secret)

    def _assertion(self, request):
        if (getattr(request, "client_assertion_type", None) or "") != client_auth.ASSERTION_TYPE:
            return None
        assertion = getattr(request, "client_assertion", None)
        return assertion if isinstance(assertion, str) and assertion else None

    def client_authentication_required(self, request, *args, **kwargs):
        if self._assertion(request) is not None:
            return True
        return super().client_authentication_required(request, *args, **kwargs)

    def authenticate_client(self, request, *args, **kwargs):
        assertion = self._assertion(request)
        if assertion is not None:
            client_id = client_auth.assertion_client_id(assertion)
            if client_id is None or (request.client_id and request.client_id != client_id):
                return False
            client = self._load_application(client_id, request)
            if client is None or AuthMethod.PRIVATE_KEY_JWT not in client.auth_methods:
                return False
            tenant = _tenant()
            audiences = [tenant.issuer, f"{tenant.issuer}/token", f"{tenant.issuer}/introspect",
                         f"{tenant.issuer}/revoke"]
            if not client_auth.verify_assertion(client, assertion, audiences=audiences):
                return False
            request.client_id = client_id
            return True
        if self._extract_basic_auth(request):
            request.used_basic_auth = True
        authenticated = super().authenticate_client(request, *args, **kwargs)
        if authenticated and request.client.token_endpoint_auth_method not in (
                AuthMethod.SECRET_BASIC, AuthMethod.SECRET_POST):
            return False  # a private_key_jwt client must not fall back to a (blank) secret
        return authenticated

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        client = self._load_application(client_id, request)
        return client is not None and not client.is_confidential

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in GRANT_TYPES and grant_type in client.grant_type_list

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        return response_type == "code" and "authorization_code" in client.grant_type_list

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # Syntax only: which scopes a token gets is decided with its resource (oauth/protocol/targets.py), at the
        # authorization endpoint before consent and in check_token_target at the token endpoint.
        return all(isinstance(s, str) and 0 < len(s) <= 100 and s.isprintable() for s in scopes)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return []

    def is_pkce_required(self, client_id, request):
        return True

    def validate_user(self, username, password, client, request, *args, **kwargs):
        return False  # no password grant, ever

    # --- authorization codes ----------------------------------------------------------------------

    def _grant_for(self, code, request) -> Grant | None:
        tenant = _tenant()
        if tenant is None or not isinstance(code, str) or not code or len(code) > 255 or "\x00" in code:
            return None
        digest = grant_services.checksum(code)  # codes are stored as their sha256: a database dump redeems none
        cached = getattr(request, "_oauth_grant", None)
        if cached is not None and cached.code == digest:
            return cached
        # The code with its user in one statement compiled once (kit/db.py); the code is unique: no ORDER BY.
        row = select_one("grant-by-code", _grant_by_code, (tenant.pk, digest))
        grant = None
        if row is not None:
            grant, user = instances_from_row(row, Grant, get_user_model())
            grant.user = user if user.pk is not None else None
        request._oauth_grant = grant
        return grant

    def _create_authorization_code(self, request, code, expires=None):
        if request.code_challenge_method != "S256":
            raise errors.InvalidRequestError(description='code_challenge_method must be "S256"', request=request)
        grant = super()._create_authorization_code(request, {**code, "code": grant_services.checksum(code["code"])},
                                                   expires)
        grant.auth_time = getattr(request, "auth_time", None) or grant.auth_time
        grant.resource_chosen_by = getattr(request, "resource_chosen_by", "") or ""
        grant.amr, grant.acr = list(getattr(request, "amr", None) or []), getattr(request, "acr", None) or ""
        if grant.auth_time or grant.resource_chosen_by or grant.acr:
            grant.save(update_fields=["auth_time", "resource_chosen_by", "amr", "acr"])
        return grant

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        grant = self._grant_for(code, request)
        if grant is None or grant.application_id != client.pk:
            if isinstance(code, str) and code and client is not None:
                grant_services.code_replay_revoke(client=client, code=code)
            return False
        if grant.is_expired():
            return False
        request.scopes = grant.scope.split()
        request.user = grant.user
        request.auth_time = grant.auth_time.timestamp() if grant.auth_time else None
        request.amr, request.acr = grant.amr, grant.acr
        if grant.nonce:
            request.nonce = grant.nonce
        if grant.claims:
            request.claims = json.loads(grant.claims)
        return True

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, *args, **kwargs):
        request = kwargs.get("request") or (args[0] if args else None)
        grant = self._grant_for(code, request) if request is not None else None
        if grant is None or grant.application_id != client.pk:
            return False
        # OAuth 2.1 §4.1.3: the redirect_uri must be repeated exactly when it was sent at authorization.
        return grant.redirect_uri == redirect_uri if redirect_uri else True

    def get_code_challenge(self, code, request):
        grant = self._grant_for(code, request)
        return (grant.code_challenge or None) if grant else None

    def get_code_challenge_method(self, code, request):
        # oauthlib compares the verifier right after asking for the method; a mismatch is a security event
        # (a stolen code redeemed without its verifier), recorded here because oauthlib only raises.
        grant = self._grant_for(code, request)
        if grant and grant.code_challenge and request.code_verifier is not None and not code_challenge_method_s256(
                request.code_verifier, grant.code_challenge):
            grant_services.pkce_failure_record(client=grant.application)
        return (grant.code_challenge_method or None) if grant else None

    def get_authorization_code_scopes(self, client_id, code, redirect_uri, request):
        grant = self._grant_for(code, request)
        return grant.scope.split() if grant else []

    def get_authorization_code_nonce(self, client_id, code, redirect_uri, request):
        grant = self._grant_for(code, request)
        return (grant.nonce or None) if grant else None

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        grant = self._grant_for(code, request)
        # Nothing references a code and no receiver watches its deletion: one DELETE, compiled once.
        deleted = delete_where("grant-delete", _grant_by_id, (_tenant().pk, getattr(grant, "pk", None) or 0))
        if not deleted:
            raise errors.InvalidGrantError(request=request)

    # --- refresh tokens ---------------------------------------------------------------------------

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        tenant = _tenant()
        if tenant is None or not isinstance(refresh_token, str) or len(refresh_token) > 512:
            return False
        # A token under a bulk revocation mark, or whose person is no longer an active member here, is
        # refused like an unknown one (no family revocation).
        # With its access token and person in one statement compiled once (kit/db.py).
        row = select_one("refresh-by-value", _presentable_refresh,
                         (tenant.pk, token_checksum(refresh_token), client.pk))
        if row is None:
            return False
        rt, access, user = instances_from_row(row, RefreshToken, AccessToken, get_user_model())
        rt.access_token = access if access.pk is not None else None
        rt.user = user if user.pk is not None else None
        if rt.revoked is not None:
            # A rotated-away or revoked token presented again: someone holds a copy (RFC 9700 §4.14.2).
            rt.tenant, rt.application = tenant, client
            grant_services.refresh_family_revoke(refresh_token=rt)
            return False
        # Without its access token (a revocation by signing key deletes only access tokens, on purpose:
        # the refresh token moves the client onto the new key) the lifetime counts from its own issue.
        # Every other revocation revokes the refresh token itself, caught above.
        issued = rt.access_token.expires if rt.access_token is not None else rt.created
        if issued + timedelta(seconds=tenant_settings(tenant).refresh_token_lifetime) <= timezone.now():
            return False
        request.user = rt.user
        request.refresh_token = refresh_token
        request.refresh_token_instance = rt
        return True

    # --- audience, scopes and token rows ----------------------------------------------------------

    def check_token_target(self, request):
        """post_token hook (oauth/protocol/server.py): client, code or refresh token are valid; now decide the
        audience and scopes the token will carry, or refuse with invalid_target / invalid_scope."""
        tenant, client = _tenant(), request.client
        resources = _body_values(request, "resource")
        try:
            if request.grant_type == "client_credentials":
                requested = request.scope.split() if isinstance(request.scope, str) and request.scope else None
                target = targets.resolve(tenant=tenant, client=client, resources=resources, scopes=requested,
                                         grant_type="client_credentials")
            elif request.grant_type == "authorization_code":
                grant = self._grant_for(request.code, request)
                audience = (grant.resource or [""])[0] or targets.userinfo_audience(tenant)
                target = targets.narrow(tenant=tenant, client=client, audience=audience,
                                        original_scopes=grant.scope.split(), resources=resources, scopes=None,
                                        grant_type=request.grant_type,
                                        chosen_by=grant.resource_chosen_by or "request")
                request.code_checksum = grant_services.checksum(request.code)
            else:
                rt = request.refresh_token_instance
                target = targets.narrow(tenant=tenant, client=client, audience=rt.audience,
                                        original_scopes=list(request.scopes or []), resources=resources,
                                        scopes=None, grant_type=request.grant_type,
                                        chosen_by=rt.resource_chosen_by or "request")
                request.code_checksum = rt.code_checksum
        except targets.TargetError as exc:
            raise errors.CustomOAuth2Error(error=exc.error, description=exc.description, request=request) \
                from exc
        request.token_target = target
        request.scopes = list(target.scopes)

    def _check_and_set_request_resource(self, request):
        request.resource = [request.token_target.audience]

    def _create_access_token(self, expires, request, token, source_refresh_token=None):
        id_token = getattr(request, "id_token", None)
        access_token = access_token_row(
            _tenant(), client=request.client, user=request.user, target=request.token_target, scope=token["scope"],
            expires=expires, token=token["access_token"], jti=getattr(request, "access_token_jti", ""),
            kid=getattr(request, "access_token_kid", ""), grant_type=request.grant_type,
            code_checksum=getattr(request, "code_checksum", ""),
            id_token=id_token if isinstance(id_token, IDToken) else None, source_refresh_token=source_refresh_token)
        # The token path's one write, with its SQL compiled once (kit/db.py); ``save()`` of the
        # base model would only fill in the tenant, which is set above.
        return insert_row(access_token)

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        refresh = RefreshToken(
            tenant=_tenant(), user=request.user, application=request.client, access_token=access_token,
            token_family=previous_refresh_token.token_family if previous_refresh_token else None,
            resource=[request.token_target.audience], audience=request.token_target.audience,
            code_checksum=getattr(request, "code_checksum", "") or "",
            resource_chosen_by=request.token_target.chosen_by)
        if refresh.token_family is None:
            refresh.token_family = uuid.uuid4()
        self._set_token_value(refresh, refresh_token_code)
        return insert_row(refresh)

    def _save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type == "refresh_token" and token.get("refresh_token"):
            return self._rotate(token, request)
        return super()._save_bearer_token(token, request, *args, **kwargs)

    def _rotate(self, token, request):
        """Refresh-token rotation in four statements, inside save_bearer_token's transaction: claim the
        presented refresh token (revoke it, unless a concurrent request already did), delete the access
        token it was paired with, insert the new pair. DOT's own rotation re-reads and locks both rows
        first and revokes through the ORM's cascade collector: 19 statements per refresh instead of
        about 10 with the audit event (bench/README.md). Reuse of a rotated token is detected before
        this, in validate_refresh_token."""
        old = request.refresh_token_instance
        now = timezone.now()
        claimed = RefreshToken.objects.for_tenant(_tenant()).filter(pk=old.pk, revoked__isnull=True).update(
            revoked=now, updated=now, access_token=None)
        if not claimed:  # a concurrent refresh with the same token won: this one gets nothing
            raise errors.InvalidGrantError(description="refresh token already used", request=request)
        if old.access_token_id is not None:
            # The only row pointing at an access token is its refresh token, cleared just above
            # (asserted in oauth/grants/revocation.py), so no cascade collector is needed.
            AccessToken.objects.for_tenant(_tenant()).filter(pk=old.access_token_id)._raw_delete(
                AccessToken.objects.db)
        self._check_and_set_request_resource(request)
        expires = now + timedelta(seconds=token["expires_in"])
        access_token = self._create_access_token(expires, request, token, source_refresh_token=old)
        self._create_refresh_token(request, token["refresh_token"], access_token, old)

    def save_bearer_token(self, token, request, *args, **kwargs):
        if request.grant_type == "client_credentials":
            token.pop("refresh_token", None)
        if summaries.is_summarised(request.grant_type):
            # One INSERT, no per-token audit row: the minute's summary is derived from these rows
            # (oauth/grants/summaries.py), so no issuance goes unrecorded.
            self._save_bearer_token(token, request, *args, **kwargs)
            return
        with transaction.atomic():
            self._save_bearer_token(token, request, *args, **kwargs)
            grant_services.token_issued(client=request.client, grant_type=request.grant_type,
                                        audience=request.token_target.audience, scope=token.get("scope", ""),
                                        user=request.user, resource_chosen_by=request.token_target.chosen_by)

    # --- revocation -------------------------------------------------------------------------------

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        """RFC 7009: only the authenticated client's own tokens, of this tenant; unknown tokens are not
        an error (the response is 200 either way, revealing nothing)."""
        tenant, client = _tenant(), request.client
        if tenant is None or client is None or not isinstance(token, str):
            return
        from ..grants.selectors import own_access_token, refresh_token_by_value

        order = ("refresh", "access") if token_type_hint == "refresh_token" else ("access", "refresh")
        for kind in order:
            if kind == "access":
                row = own_access_token(tenant, client, token)
            else:
                row = refresh_token_by_value(tenant, token)
                if row is not None and (row.application_id != client.pk or row.revoked is not None):
                    row = None
            if row is not None:
                row.tenant = tenant
                grant_services.token_revoke(token_row=row, actor=client)
                return

    # --- OpenID Connect ---------------------------------------------------------------------------

    def get_oidc_issuer_endpoint(self, request):
        return _tenant().issuer

    def get_additional_claims(self, request):
        user = request.user
        return {"email": user.email, "email_verified": bool(getattr(user, "email_verified", True)),
                "name": user.get_full_name() if hasattr(user, "get_full_name") else ""}

    def finalize_id_token(self, id_token, token, token_handler, request):
        tenant = _tenant()
        claims, expires = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        if "nonce" not in id_token and request.nonce:
            id_token["nonce"] = request.nonce
        if getattr(request, "auth_time", None):
            id_token["auth_time"] = int(request.auth_time)
        # How the person signed in (RFC 8176 amr, the acr values of kit/authn.py): the code's, not a refresh's.
        if getattr(request, "amr", None):
            id_token["amr"] = list(request.amr)
        if getattr(request, "acr", None):
            id_token["acr"] = request.acr
        signed = keys.sign(tenant, json.loads(json.dumps(id_token, default=str)), typ="JWT")
        with transaction.atomic():
            row = IDToken.objects.create(tenant=tenant, user=request.user, scope=" ".join(request.scopes),
                                         expires=expires, jti=id_token["jti"], application=request.client)
        request.id_token = row
        return signed

    def _load_id_token(self, token):
        return None  # ID tokens are not bearer credentials here

    def _load_access_token(self, token):
        from ..grants.selectors import access_token_by_value

        tenant = _tenant()
        return access_token_by_value(tenant, token) if tenant is not None else None

    def _get_client_by_audience(self, audience):
        tenant = _tenant()
        if tenant is None:
            return None
        audience = [audience] if isinstance(audience, str) else list(audience or [])
        return Application.objects.for_tenant(tenant).filter(client_id__in=audience).first()

    def validate_silent_authorization(self, request):
        return True

    def validate_silent_login(self, request):
        return True
