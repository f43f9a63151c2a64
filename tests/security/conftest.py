"""Fixtures of the security area: one estate per tenant holding one of everything a tenant owns, built
through the real services and endpoints, so probes can aim one tenant's credentials at the other's objects."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.factories import ACTOR, Estate, build_estate
from tests.oauth.flows import authorize, client_credentials


@dataclass
class FullEstate(Estate):
    """Everything tenant ``world`` owns (tests/factories.py's Estate and one of each other thing), with the
    secrets that were shown once (for the at-rest scan)."""

    api_token: str
    consent: object
    idp: object
    idp_secret: str
    sink: object
    sink_secret: str
    registration: object
    registration_secret: str | None
    registration_token: str
    rule: object
    iat: object
    iat_token: str
    publisher: object
    job: object
    key: object
    event: object
    secrets: list[str] = field(default_factory=list)
    invitation: object = None
    invitation_token: str = ""

    @property
    def user_token(self) -> dict:
        return self.token

    def access_token_row(self):
        from oauth.models import AccessToken

        return AccessToken.objects.unscoped().filter(application=self.client).first()

    def membership_ids(self) -> list:
        from tenants.models import Membership

        return list(Membership.objects.unscoped().filter(tenant=self.tenant).values_list("pk", flat=True))

    def markers(self) -> list[str]:
        """Strings that identify this estate's objects: none may appear in an answer to another tenant."""
        w = self.world
        values = [str(self.resource.pk), self.resource.uri, self.resource.name, self.client.client_id,
                  self.client.name, self.agent.client_id, self.agent.name, str(self.consent.pk), str(self.idp.pk),
                  self.idp.slug, self.idp.name, str(self.sink.pk), self.sink.name, str(self.registration.pk),
                  self.registration.application.client_id, str(self.rule.pk), str(self.iat.pk), self.iat.label,
                  str(self.publisher.pk), self.publisher.issuer, str(self.job.pk), self.key.kid,
                  str(self.invitation.pk), self.invitation.email,
                  w.owner.email, w.admin.email, w.auditor.email, w.member.email,
                  *[str(pk) for pk in self.membership_ids()], *self.secrets]
        return [v for v in values if v]


def build_full_estate(world, http_client, signed_in) -> FullEstate:
    """One of each tenant-owned thing of ``world``, named after its slug so markers are unique."""
    from audit.services import record, sink_create
    from identity import services as sso
    from identity.people import services as people
    from jobs.models import JobRun
    from mcp_registry import services as registry
    from oauth.config.services import tenant_auth_settings_update
    from oauth.models import Consent, SigningKey, api_audience
    from oauth.registration import services as reg
    from oauth.signing.rotation import rotation_policy_update
    from tenants.services import membership_add

    estate = build_estate(world, http_client, signed_in, resource_name=f"{world.slug}-files")
    http_client.logout()
    slug, tenant, resource, client = world.slug, world.tenant, estate.resource, estate.client
    registry.tool_save(resource=resource, actor=ACTOR, name=f"{slug}.read_file", scopes=["tools:read"])
    answer = client_credentials(http_client, tenant, estate.agent, estate.agent_secret, resource=api_audience())
    assert answer.status_code == 200, answer.content
    api_token = answer.json()["access_token"]
    consent = Consent.objects.unscoped().get(tenant=tenant, application=client)

    idp_secret = f"idp-secret-{slug}-9f1c2e7d4b"
    idp = sso.identity_provider_create(
        tenant=tenant, name=f"{slug.title()} Corp IdP", slug=f"{slug}-corp", actor=ACTOR,
        client_secret=idp_secret, issuer=f"https://idp.{slug}.example",
        discovery_url=f"https://idp.{slug}.example/.well-known/openid-configuration",
        client_id=f"{slug}-platform", domains=[f"{slug}corp.example"])
    sso.email_domain_verify(tenant=tenant, domain=f"{slug}corp.example", actor=ACTOR)  # no API: operator only
    from identity.mfa.services import policy_set

    policy_set(tenant=tenant, rule="off", actor=ACTOR)  # a policy row; "required" would send B's probes to enrol
    sink, sink_secret = sink_create(tenant=tenant, name=f"{slug}-siem", url=f"https://siem.{slug}.example/hook",
                                    actor=ACTOR)
    registration, registration_secret, registration_token, _ = reg.dcr_register(
        tenant=tenant, address="203.0.113.9", body={
            "client_name": f"{slug.title()} Registered Agent", "redirect_uris": ["https://agent.example/cb"],
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic"})
    rule = reg.rule_create(tenant=tenant, actor=ACTOR, kind="redirect_host", pattern=f"{slug}.rules.example")
    iat, iat_token = reg.initial_access_token_create(tenant=tenant, actor=ACTOR, label=f"{slug} onboarding")
    publisher = reg.publisher_create(tenant=tenant, actor=ACTOR, name=f"{slug} publisher",
                                     issuer=f"https://publisher.{slug}.example", jwks=_public_jwks())
    job = JobRun.objects.create(name="oauth.revoke_tokens", tenant=tenant, status="succeeded")
    key = SigningKey.objects.unscoped().filter(tenant=tenant).first()
    assert key is not None, "issuing a token creates the tenant's signing key"
    webhook_secret = f"webhook-{slug}-3b8e1f0c7a9d5e2f"
    reg.policy_update(tenant=tenant, actor=ACTOR, webhook_url=f"https://hooks.{slug}.example/registrations",
                      webhook_secret=webhook_secret)
    rotation_policy_update(tenant=tenant, actor=ACTOR, enabled=True)
    tenant_auth_settings_update(tenant=tenant, actor=ACTOR, access_token_lifetime=900)
    pending = authorize(signed_in(world.member), tenant, client, resource=resource.uri)  # an unredeemed code
    http_client.logout()
    event = record(tenant, ACTOR, "tenant.updated", tenant, changes={"probe": slug})
    invited = membership_add(tenant=tenant, email=f"invitee@{slug}.example", role="member", actor=ACTOR)
    invitation = people.invitation_create(membership=invited, actor=ACTOR)
    _, invitation_token = people.invitation_issue_link(invitation_id=invitation.pk)
    secrets = [invitation_token, estate.agent_secret, estate.token["access_token"],
               estate.token.get("refresh_token", ""), api_token, idp_secret, sink_secret, registration_secret or "",
               registration_token, iat_token, webhook_secret, pending.code, estate.authorization.code]
    return FullEstate(**vars(estate), api_token=api_token, consent=consent, idp=idp, idp_secret=idp_secret, sink=sink,
                      sink_secret=sink_secret, registration=registration, registration_secret=registration_secret,
                      registration_token=registration_token, rule=rule, iat=iat, iat_token=iat_token,
                      publisher=publisher, job=job, key=key, event=event, secrets=[s for s in secrets if s],
                      invitation=invitation, invitation_token=invitation_token)


def _public_jwks() -> dict:
    import json

    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))
    jwk.update({"kid": "publisher-1", "use": "sig", "alg": "ES256"})
    return {"keys": [jwk]}


@pytest.fixture
def full_estates(two_tenants, client, signed_in, settings):
    a, b = two_tenants
    estate_a = build_full_estate(a, client, signed_in)
    estate_b = build_full_estate(b, client, signed_in)
    client.logout()
    return estate_a, estate_b
