"""Which state a new registration starts in, and why (ARCHITECTURE §4).

Automatic-approval rules are evaluated in order; the first that matches approves and is named as the
deciding rule. Without a match, the tenant's mode for the source (DCR or CIMD) decides: ``open``
approves, ``approval`` queues, ``closed`` refuses (DCR still accepts a valid initial access token, which
then queues unless a rule approves it)."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from urllib.parse import urlsplit

from mcp_registry.uris import is_loopback_host

from ..models import ClientStatus
from .metadata import RegistrationError
from .models import ApprovalRule, RegistrationMode, RegistrationPolicy, RegistrationSource, RuleKind


@dataclass(frozen=True)
class Decision:
    status: str
    rule: str


@dataclass(frozen=True)
class Arrival:
    """What is known about a registration when it arrives."""

    source: str
    redirect_uris: tuple[str, ...]
    cimd_url: str = ""
    grant_types: tuple[str, ...] = ("authorization_code",)
    publisher: object = None  # TrustedPublisher that signed the software statement
    initial_access_token: object = None


def policy_of(tenant) -> RegistrationPolicy:
    """The tenant's policy; the defaults, unsaved, until an admin first changes it (reads never write)."""
    return RegistrationPolicy.objects.for_tenant(tenant).first() or RegistrationPolicy(tenant=tenant)


def host_matches(host: str, patterns: list[str]) -> bool:
    host = (host or "").lower().strip("[]")
    for pattern in patterns:
        pattern = pattern.lower().strip("[]")
        if pattern == "loopback" and is_loopback_host(host):
            return True
        if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
            return True
        if host == pattern:
            return True
    return False


def _cimd_url_matches(url: str, patterns: list[str]) -> bool:
    host = urlsplit(url).hostname or ""
    for pattern in patterns:
        if "://" in pattern:
            if fnmatch.fnmatchcase(url, pattern if "*" in pattern else pattern + "*"):
                return True
        elif host_matches(host, [pattern]):
            return True
    return False


def rule_matches(rule: ApprovalRule, arrival: Arrival) -> bool:
    patterns = rule.pattern.split()
    if rule.kind in (RuleKind.REDIRECT_HOST, RuleKind.CIMD_URL) and "client_credentials" in arrival.grant_types:
        # Where codes are sent, or where a document lives, says nothing about tokens without a person.
        return False
    if rule.kind == RuleKind.REDIRECT_HOST:
        hosts = [urlsplit(u).hostname for u in arrival.redirect_uris]
        return bool(hosts) and all(h and host_matches(h, patterns) for h in hosts)
    if rule.kind == RuleKind.CIMD_URL:
        return arrival.source == RegistrationSource.CIMD and _cimd_url_matches(arrival.cimd_url, patterns)
    if rule.kind == RuleKind.PUBLISHER:
        publisher = arrival.publisher
        return publisher is not None and ("*" in patterns or publisher.name in patterns or
                                          publisher.issuer in patterns)
    if rule.kind == RuleKind.INITIAL_ACCESS_TOKEN:
        return arrival.initial_access_token is not None
    return False


def decide(tenant, arrival: Arrival) -> Decision:
    policy = policy_of(tenant)
    mode = policy.mode_for(arrival.source)
    if mode == RegistrationMode.CLOSED and arrival.initial_access_token is None:
        kind = "Client ID Metadata Documents are" if arrival.source == RegistrationSource.CIMD else \
            "Dynamic Client Registration is"
        raise RegistrationError("access_denied" if arrival.source == RegistrationSource.CIMD else
                                "invalid_client_metadata",
                                f"{kind} closed at tenant '{tenant.slug}': ask its administrator to register "
                                "the client (or for an initial access token)", status=403)
    for rule in ApprovalRule.objects.for_tenant(tenant).filter(enabled=True):
        if rule_matches(rule, arrival):
            return Decision(ClientStatus.APPROVED, rule.label)
    if mode == RegistrationMode.OPEN:
        return Decision(ClientStatus.APPROVED, f"policy: {arrival.source} open")
    return Decision(ClientStatus.PENDING, f"policy: {arrival.source} {mode}")
