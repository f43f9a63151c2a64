"""Protocol endpoints of registration, per tenant issuer:

- ``POST {issuer}/register``: Dynamic Client Registration (RFC 7591), JSON in and out, RFC 7591 error
  codes with a description, ``Cache-Control: no-store``; rate-limited per source address and per tenant
  (503 when the limiter is down: registration fails closed).
- ``GET/PUT/DELETE {issuer}/register/<client_id>``: client configuration (RFC 7592) with the
  registration access token as bearer credential.
- The "awaiting approval" page the authorization endpoint shows for a client that is not approved, and
  the form where the person adds a justification for the administrators.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.decorators.csrf import csrf_exempt

import audit
from kit.errors import ApplicationError
from tenants.api.parsers import JSONBodyError, load_json
from tenants.selectors import membership_of

from ..models import Application, ClientStatus
from ..protocol.endpoints.common import bearer_token, no_store, tenant_of
from . import ratelimit, services
from .metadata import RegistrationError, invalid
from .models import ClientRegistration, RegistrationMode
from .policy import policy_of

MAX_BODY = 64 * 1024


def error_response(exc: RegistrationError) -> JsonResponse:
    response = JsonResponse({"error": exc.error, "error_description": exc.description}, status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return no_store(response)


def client_information(registration: ClientRegistration, *, secret: str | None = None,
                       registration_token: str | None = None) -> dict:
    """RFC 7591 §3.2.1 / RFC 7592 §3: the metadata as registered plus what the server assigned."""
    client = registration.application
    tenant = registration.tenant
    body = {**registration.metadata, "client_id": client.client_id,
            "client_id_issued_at": int(registration.created_at.timestamp()),
            "client_name": client.name, "redirect_uris": client.redirect_uris.split(),
            "registration_client_uri": f"{tenant.issuer}/register/{client.client_id}",
            # Not in RFC 7591: tells the software (and its developer) whether it can be used yet.
            "status": client.status}
    if secret:
        body["client_secret"], body["client_secret_expires_at"] = secret, 0
    if registration_token:
        body["registration_access_token"] = registration_token
    return body


def _address(request) -> str:
    return request.META.get("REMOTE_ADDR") or ""


def _json_body(request):
    if request.content_type != "application/json":
        raise invalid(f"send the client metadata as application/json, not '{request.content_type[:60]}'")
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise RegistrationError("invalid_client_metadata", f"the request body is larger than {MAX_BODY} bytes",
                                status=413)
    raw = request.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise RegistrationError("invalid_client_metadata", f"the request body is larger than {MAX_BODY} bytes",
                                status=413)
    try:
        return load_json(raw)
    except JSONBodyError as exc:
        raise invalid(str(exc)) from exc


def _rate_limit(request, tenant) -> None:
    limited = ratelimit.hit(tenant=tenant, address=_address(request), policy=policy_of(tenant))
    if limited is None:
        return
    which, limit, first = limited
    if first:  # one audit event per window and limit, not one per refused request
        audit.record(tenant, services.registrant(_address(request)), "registration.rate_limited", None, request,
                     limit=which, per_minute=limit)
    raise RegistrationError("temporarily_unavailable", f"too many registrations from this {which} (at most "
                            f"{limit} a minute); wait a minute and try again", status=429,
                            headers={"Retry-After": "60"})


@method_decorator(csrf_exempt, name="dispatch")
class RegistrationView(View):
    """RFC 7591 §3: POST the metadata, get the client."""

    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        tenant = tenant_of(request)
        try:
            _rate_limit(request, tenant)
            body = _json_body(request)
            header = request.META.get("HTTP_AUTHORIZATION")
            iat = bearer_token(request) if header else None
            if header and not iat:
                raise RegistrationError("invalid_token", "send the initial access token as 'Authorization: Bearer "
                                        "<token>'", status=401)
            user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
            registration, secret, token, _ = services.dcr_register(
                tenant=tenant, body=body, request=request, address=_address(request) or None, requester=user,
                initial_access_token=iat)
        except RegistrationError as exc:
            return error_response(exc)
        return no_store(JsonResponse(client_information(registration, secret=secret, registration_token=token),
                                     status=201))


@method_decorator(csrf_exempt, name="dispatch")
class ClientConfigurationView(View):
    """RFC 7592: read, update, delete with the registration access token."""

    http_method_names = ["get", "put", "delete"]

    def dispatch(self, request, *args, client_id: str = "", **kwargs):
        tenant = tenant_of(request)
        try:
            registration = services.registration_by_token(tenant=tenant, client_id=client_id,
                                                          token=bearer_token(request))
            return super().dispatch(request, registration)
        except RegistrationError as exc:
            return error_response(exc)

    def get(self, request, registration):
        return no_store(JsonResponse(client_information(registration)))

    def put(self, request, registration):
        registration = services.dcr_update(registration=registration, body=_json_body(request), request=request,
                                           address=_address(request) or None)
        return no_store(JsonResponse(client_information(registration)))

    def delete(self, request, registration):
        services.dcr_delete(registration=registration, request=request, address=_address(request) or None)
        return no_store(HttpResponse(status=204))


# --- the person's side of the approval workflow -------------------------------------------------------

def registration_for(tenant, client_id) -> ClientRegistration | None:
    if not isinstance(client_id, str) or not client_id or len(client_id) > 255:
        return None
    qs = ClientRegistration.objects.for_tenant(tenant).select_related("application")
    return qs.filter(cimd_url=client_id).first() if "://" in client_id else \
        qs.filter(application__client_id=client_id).first()


def held_response(request, tenant, client_id):
    """The branded page for a client that exists but may not be used (pending, rejected, suspended), or
    None: the authorization endpoint then answers as it would for any other error."""
    registration = registration_for(tenant, client_id)
    if registration is None:
        client = Application.objects.for_tenant(tenant).filter(client_id=client_id).first() \
            if isinstance(client_id, str) and 0 < len(client_id) <= 255 else None
        if client is None or client.status == ClientStatus.APPROVED:
            return None
    else:
        client = registration.application
        if client.status == ClientStatus.APPROVED:
            return None
    user = request.user if request.user.is_authenticated else None
    return render(request, "oauth/registration/awaiting_approval.html", {
        "client": client, "registration": registration, "status": client.status,
        "can_justify": user is not None and registration is not None and client.status == ClientStatus.PENDING
        and membership_of(user, tenant) is not None,
        "next": request.get_full_path(),
    }, status=403)


class JustificationView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, slug, pk):
        tenant = tenant_of(request)
        registration = ClientRegistration.objects.for_tenant(tenant).select_related("application").filter(pk=pk).first()
        if registration is None or membership_of(request.user, tenant) is None:
            raise Http404("no such registration at this organisation")
        try:
            services.registration_justify(registration=registration, user=request.user,
                                          text=request.POST.get("justification", ""), request=request)
        except ApplicationError:
            pass  # an empty justification: the page shows the form again
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = f"/t/{tenant.slug}/account/apps"
        return redirect(target)


def discovery_fields(tenant) -> dict:
    """The metadata contributor: registration endpoint and CIMD support, per the tenant's policy."""
    policy = policy_of(tenant)
    fields = {}
    if policy.dcr_mode != RegistrationMode.CLOSED:
        fields["registration_endpoint"] = f"{tenant.issuer}/register"
    if policy.cimd_mode != RegistrationMode.CLOSED:
        fields["client_id_metadata_document_supported"] = True
    return fields




def trust_signals(client, redirect_uri: str) -> dict:
    """What the consent page says about who the client is (AS5): a CIMD client's verified domain (the
    document was fetched from it over https), a self-registered client as unverified, and a warning when
    every redirect goes to this machine (any local program could be asking)."""
    from urllib.parse import urlsplit

    from .metadata import loopback_only

    registration = ClientRegistration.objects.for_tenant(client.tenant).filter(application=client).only(
        "source", "cimd_url", "publisher").select_related("publisher").first() if client.registration_source in (
        "dcr", "cimd") else None
    return {
        "cimd_domain": urlsplit(registration.cimd_url).hostname if registration and registration.cimd_url else "",
        "self_registered": registration is not None and not registration.cimd_url,
        "publisher": registration.publisher.name if registration and registration.publisher else "",
        "localhost_only": loopback_only([redirect_uri] if redirect_uri else client.redirect_uris.split()),
    }
