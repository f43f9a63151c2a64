"""The registry of audit event types: every action the platform records is declared here, once.

One line per event type: ``event(name, description, severity, target_type)``. ``audit.record`` with an
action missing from this list raises under ``AUDIT_STRICT`` (the test suite) and, in production, records
it anyway with a logged warning: an event is never lost for want of a registry line.

Adding an event type for your app: add a line in your app's block below (keep blocks alphabetical by
prefix). ``target_type`` is the ``app_label.model_name`` that ``audit.record`` derives from the target
instance, or the first element of the ``(type, id, label)`` tuple you pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Severity

INFO, NOTICE, WARNING, CRITICAL = Severity.INFO, Severity.NOTICE, Severity.WARNING, Severity.CRITICAL


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    severity: str
    target_type: str

    @property
    def is_security(self) -> bool:
        return self.severity != INFO


REGISTRY: dict[str, EventType] = {}


def event(name: str, description: str, severity: str = INFO, target_type: str = "") -> EventType:
    if name in REGISTRY:
        raise ValueError(f"audit event type {name!r} is registered twice")
    REGISTRY[name] = EventType(name, description, severity, target_type)
    return REGISTRY[name]


def lookup(name: str) -> EventType | None:
    return REGISTRY.get(name)


# --- audit (this app) ---------------------------------------------------------------------------------
event("audit.checkpoint_signed", "The hourly job signed a checkpoint of the chain", INFO, "audit.chain")
event("audit.events_purged", "Events older than the retention period were dropped", NOTICE, "audit.auditcheckpoint")
event("audit.retention_applied", "A shorter retention period, set earlier by an owner, took effect after its delay",
      NOTICE, "audit.audittenantsettings")
event("audit.exported", "Audit events were exported (download or export job)", NOTICE, "audit.chain")
event("audit.settings_changed", "Retention or IP truncation of the audit log was changed", NOTICE,
      "audit.audittenantsettings")
event("audit.sink_created", "A SIEM sink was added", NOTICE, "audit.auditsink")
event("audit.sink_updated", "A SIEM sink was changed, paused or resumed", NOTICE, "audit.auditsink")
event("audit.sink_deleted", "A SIEM sink was removed", NOTICE, "audit.auditsink")
event("audit.sink_dead_lettered", "A SIEM sink stopped after repeated delivery failures", WARNING,
      "audit.auditsink")
event("audit.verification_failed", "The hash chain or a checkpoint did not verify", CRITICAL, "audit.chain")

# --- identity: sign-in and people ---------------------------------------------------------------------
event("signin.succeeded", "A person signed in", INFO, "identity.user")
event("signin.signed_out", "A person signed out", INFO, "identity.user")
event("signin.failed", "A sign-in attempt failed (wrong e-mail or password)", NOTICE, "identity.user")
event("signin.locked", "An account's password sign-in was locked after repeated failures", WARNING,
      "identity.user")
event("user.created", "An account was created (platform chain: which tenant's action created it)", NOTICE,
      "identity.user")
event("user.password_set", "A person's password was set or changed", NOTICE, "identity.user")
event("sessions.ended", "A person's sessions were ended (by them, by a tenant admin, after a password reset, or "
      "because a member was removed, a tenant suspended or an account deactivated); tokens that hung on them "
      "were revoked", NOTICE, "identity.user")

# --- identity: people (identity/people/: invitations, password resets) ---------------------------------
event("invitation.created", "A member was invited by e-mail (added in the console or API, or a tenant's first owner)",
      NOTICE, "identity.invitation")
event("invitation.sent", "An invitation's e-mail was sent with a fresh single-use link", INFO, "identity.invitation")
event("invitation.resent", "An invitation was sent again; its previous link stopped working", NOTICE,
      "identity.invitation")
event("invitation.revoked", "An invitation was revoked; its link stopped working", NOTICE, "identity.invitation")
event("invitation.accepted", "A person accepted an invitation (set a password or signed in)", NOTICE,
      "identity.invitation")
event("invitation.link_refused", "An invitation link was refused (forged, expired, used or revoked); nothing changed",
      NOTICE, "identity.invitation")
event("password_reset.requested", "A password-reset link was e-mailed to an account", NOTICE, "identity.user")
event("password_reset.completed", "A password was reset through an e-mailed link; every session of the person ended",
      WARNING, "identity.user")
event("password_reset.link_refused", "A password-reset link was refused (forged, expired or used); nothing changed",
      NOTICE, "identity.passwordreset")
event("account.deactivated", "An account was deactivated: its sessions, tokens and consents ended", WARNING,
      "identity.user")

# --- identity: second factors (identity/mfa/) ----------------------------------------------------------
event("mfa.factor_enrolled", "A person added a second factor (an authenticator app or a passkey)", NOTICE,
      "identity.user")
event("mfa.factor_removed", "A person removed a second factor", WARNING, "identity.user")
event("mfa.recovery_codes_generated", "A person's recovery codes were renewed: the old ones stopped working", NOTICE,
      "identity.user")
event("mfa.challenge_succeeded", "A second factor was proved (at sign-in, step-up or enrolment)", INFO,
      "identity.user")
event("mfa.challenge_failed", "A second factor was refused (wrong code, used code, unknown or another account's "
      "passkey, an answer for another origin)", NOTICE, "identity.user")
event("mfa.locked", "An account's second factor was locked after repeated wrong answers", WARNING, "identity.user")
event("mfa.policy_updated", "The tenant's policy of who must have a second factor changed", NOTICE,
      "identity_mfa.mfapolicy")

# --- identity: SSO federation (upstream identity providers) -------------------------------------------
event("sso.provider_created", "An upstream identity provider was added", NOTICE, "identity.identityprovider")
event("sso.provider_updated", "An upstream identity provider's settings changed", NOTICE, "identity.identityprovider")
event("sso.provider_tested", "An upstream identity provider's configuration was tested", INFO,
      "identity.identityprovider")
event("sso.signin_succeeded", "A person signed in through an upstream identity provider", INFO, "identity.user")
event("sso.signin_failed", "A sign-in through an upstream identity provider failed", WARNING,
      "identity.identityprovider")
event("sso.user_provisioned", "A person's account was created on first SSO sign-in", NOTICE, "identity.user")
event("sso.identity_linked", "An upstream identity was linked to an account", NOTICE, "identity.federatedidentity")
event("sso.identity_unlinked", "An upstream identity was unlinked from an account", NOTICE,
      "identity.federatedidentity")
event("sso.role_mapped", "A role was granted from upstream groups", NOTICE, "tenants.membership")
event("sso.backchannel_logout", "An upstream provider ended a person's sessions", NOTICE, "identity.identityprovider")
event("sso.backchannel_logout_refused", "A back-channel logout token was refused (invalid or replayed)", WARNING,
      "identity.identityprovider")
event("sso.email_domain_verified", "The operator verified an e-mail domain as the tenant's: its providers alone "
      "create or claim accounts there", NOTICE, "identity.verifiedemaildomain")
event("sso.email_domain_removed", "A verified e-mail domain of the tenant was removed", NOTICE,
      "identity.verifiedemaildomain")
event("sso.provider_enabled", "An upstream identity provider was enabled", NOTICE, "identity.identityprovider")
event("sso.provider_disabled", "An upstream identity provider was disabled: no sign-in through it", WARNING,
      "identity.identityprovider")

# --- jobs ---------------------------------------------------------------------------------------------
event("job.started", "A background job started", INFO, "jobs.jobrun")
event("job.finished", "A background job finished", INFO, "jobs.jobrun")
event("job.failed", "A background job failed", WARNING, "jobs.jobrun")
event("job.cancelled", "A background job stopped on request", INFO, "jobs.jobrun")
event("job.cancel_requested", "Someone asked a background job to stop", NOTICE, "jobs.jobrun")

# --- tenants and memberships --------------------------------------------------------------------------
event("tenant.created", "A tenant was created", NOTICE, "tenants.tenant")
event("tenant.updated", "A tenant's name, branding or domain changed", INFO, "tenants.tenant")
event("tenant.suspended", "A tenant was suspended", WARNING, "tenants.tenant")
event("tenant.reactivated", "A suspended tenant was reactivated", NOTICE, "tenants.tenant")
event("tenant.custom_domain_added", "A custom domain was claimed (not serving until verified)", NOTICE,
      "tenants.tenant")
event("tenant.custom_domain_removed", "A custom domain was removed", NOTICE, "tenants.tenant")
event("tenant.custom_domain_verified", "A custom domain's DNS record was found: it serves the tenant", WARNING,
      "tenants.tenant")
event("tenant.custom_domain_check_failed", "A custom domain's DNS record was not found", NOTICE, "tenants.tenant")
event("tenant.custom_domain_unverified", "A custom domain stopped serving: its DNS record was gone too often",
      WARNING, "tenants.tenant")
event("membership.added", "A person was added to a tenant", NOTICE, "tenants.membership")
event("membership.role_changed", "A member's role changed", NOTICE, "tenants.membership")
event("membership.removed", "A person was removed from a tenant", NOTICE, "tenants.membership")

# --- mcp_registry: MCP resources ----------------------------------------------------------------------
event("resource.created", "An MCP resource (server) was registered", NOTICE, "mcp_registry.mcpresource")
event("resource.updated", "An MCP resource's settings changed", INFO, "mcp_registry.mcpresource")
event("resource.deleted", "An MCP resource was removed", WARNING, "mcp_registry.mcpresource")
event("resource.disabled", "An MCP resource was disabled (its tokens no longer accepted)", WARNING,
      "mcp_registry.mcpresource")
event("resource.enabled", "A disabled MCP resource was enabled", NOTICE, "mcp_registry.mcpresource")
event("resource.scopes_changed", "Scopes of an MCP resource were added or removed", NOTICE, "mcp_registry.mcpresource")
event("resource.tools_changed", "Tools of an MCP resource (and their scopes) changed", INFO,
      "mcp_registry.mcpresource")
event("resource.verified", "Control of an MCP resource's URI was proven", NOTICE, "mcp_registry.mcpresource")
event("resource.verification_failed", "Proof of control of an MCP resource's URI failed", WARNING,
      "mcp_registry.mcpresource")

# --- oauth: clients, consents, tokens, keys, settings ---------------------------------------------------
event("client.created", "An OAuth client was registered", NOTICE, "oauth.application")
event("client.updated", "An OAuth client's settings changed", NOTICE, "oauth.application")
event("client.deleted", "An OAuth client was deleted", WARNING, "oauth.application")
event("client.secret_rotated", "An OAuth client's secret was replaced", NOTICE, "oauth.application")
event("client.approved", "An OAuth client was approved", NOTICE, "oauth.application")
event("client.pending", "An OAuth client was put back in the approval queue", NOTICE, "oauth.application")
event("client.rejected", "An OAuth client registration was rejected", NOTICE, "oauth.application")
event("client.suspended", "An OAuth client was suspended and its tokens revoked", WARNING, "oauth.application")
event("consent.granted", "A person granted a client access", INFO, "oauth.consent")
event("consent.revoked", "A grant of access to a client was revoked", NOTICE, "oauth.consent")
event("token.issued", "Tokens were issued to a client", INFO, "oauth.application")
event("tokens.issued", "Machine tokens (client_credentials) issued to a client in one minute, counted per "
      "resource and scope (oauth/grants/summaries.py)", INFO, "oauth.application")
event("token.revoked", "A token was revoked", NOTICE, "")
event("tokens.revoked", "Tokens were revoked in bulk (by client, user, resource or tenant)", NOTICE, "")
event("access.user_ended", "A person's tokens, codes and consents at the tenant ended (removed from the tenant "
      "or account deactivated)", NOTICE, "identity.user")
event("access.tenant_ended", "Every token and consent of a suspended tenant ended", WARNING, "tenants.tenant")
event("token.code_replay", "An authorization code was presented twice; its tokens were revoked", CRITICAL,
      "oauth.application")
event("key.created", "A signing key was generated", NOTICE, "oauth.signingkey")
event("key.rotated", "The active signing key was rotated", NOTICE, "oauth.signingkey")
event("key.removed", "A retired signing key was removed from JWKS", NOTICE, "oauth.signingkey")
event("key.rotation_skipped", "A rotation was not done: another one had already replaced the key", NOTICE,
      "oauth.signingkey")
event("key.emergency_rotated", "A compromised signing key was replaced at once and its tokens revoked", CRITICAL,
      "oauth.signingkey")
event("key.rewrapped", "A signing key's private key was re-encrypted under the current KEK", NOTICE,
      "oauth.signingkey")
event("secret.rewrapped", "A secret at rest (SSO, gateway, webhook, sink or audit key) was re-encrypted under "
      "the current KEK", NOTICE, "")
event("key_policy.updated", "The tenant's signing-key rotation policy changed", NOTICE, "oauth.keyrotationpolicy")
event("tokens.revocation_requested", "A bulk token revocation job was queued", NOTICE, "jobs.jobrun")
event("oauth_settings.updated", "The tenant's authorization server settings changed", NOTICE, "")

# --- oauth/registration: DCR, CIMD, the approval workflow ---------------------------------------------
event("registration.received", "A client registered itself (DCR or CIMD); policy decision and rule recorded", NOTICE,
      "oauth.application")
event("registration.deduplicated", "An identical registration was merged into the existing client", INFO,
      "oauth.application")
event("registration.rate_limited", "Registrations were refused by the per-address or per-tenant rate limit",
      WARNING, "")
event("registration.approved", "A registered client was approved by an administrator", NOTICE, "oauth.application")
event("registration.rejected", "A registered client was rejected by an administrator", NOTICE, "oauth.application")
event("registration.suspended", "A registered client was suspended (its tokens revoked)", WARNING, "oauth.application")
event("registration.reapproved", "A suspended client was approved again", NOTICE, "oauth.application")
event("registration.justified", "A requester explained why a pending client is needed", INFO, "oauth.application")
event("registration.deleted", "A client deleted its own registration (RFC 7592)", NOTICE, "oauth.application")
event("registration.expired", "A registered client never used within the policy's days was deleted", NOTICE,
      "oauth.application")
event("registration.cimd_changed", "A client's metadata document changed on re-fetch", NOTICE, "oauth.application")
event("registration.cimd_failed", "A client ID metadata document was refused (SSRF guard, fetch or content)", WARNING,
      "oauth.cimd")
event("registration.notified", "Administrators were told of a registration waiting for approval", INFO,
      "oauth.application")
event("registration.notification_failed", "A registration webhook failed after every retry", WARNING,
      "oauth.application")
event("registration.policy_updated", "The tenant's registration policy changed", NOTICE, "oauth.registrationpolicy")
event("registration.rule_created", "An automatic-approval rule was added", NOTICE, "oauth.approvalrule")
event("registration.rule_deleted", "An automatic-approval rule was removed", NOTICE, "oauth.approvalrule")
event("registration.iat_created", "An initial access token for registration was issued", NOTICE,
      "oauth.initialaccesstoken")
event("registration.iat_revoked", "An initial access token for registration was revoked", NOTICE,
      "oauth.initialaccesstoken")
event("registration.publisher_created", "A trusted software-statement publisher was added", NOTICE,
      "oauth.trustedpublisher")
event("registration.publisher_deleted", "A trusted software-statement publisher was removed", NOTICE,
      "oauth.trustedpublisher")

# --- security events: suspicious requests, recorded where they are detected ----------------------------
event("security.cross_tenant_attempt", "A credential of one tenant was presented to another", WARNING, "")
event("security.code_replayed", "An authorization code was presented twice", CRITICAL, "oauth.grant")
event("security.refresh_token_reused", "A rotated refresh token was replayed; its family was revoked",
      CRITICAL, "oauth.refreshtoken")
event("security.pkce_failed", "A token request failed PKCE verification", WARNING, "oauth.application")
event("security.failures_summarised", "Refused requests of one kind from one source in one minute, counted "
      "(audit/failures.py); the first of them is an event of its own", WARNING, "audit.failurewindow")
event("security.client_auth_failed", "A client failed to authenticate at the token, revocation or introspection "
      "endpoint (wrong secret or assertion)", WARNING, "oauth.application")
event("security.grant_refused", "A token request presented an invalid, expired or foreign code or refresh token",
      WARNING, "oauth.application")
event("security.redirect_uri_refused", "An authorization request named a redirect URI the client did not register",
      WARNING, "oauth.application")
event("security.api_denied", "An API call was refused (no or invalid credentials, or not allowed)", WARNING, "")
event("security.suspicious_request", "A request that looks like an attack was refused", WARNING, "")
