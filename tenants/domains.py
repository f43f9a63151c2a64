"""Custom domains: the name rules and the DNS TXT check that proves a tenant controls one.

A tenant claims ``auth.acme.com``; the platform gives it a random token; the tenant publishes
``_mcp-auth-challenge.auth.acme.com TXT "<token>"``; a check that finds the token marks the domain verified.
The token is random per claim, so a record published for one claim (or one tenant) proves nothing for
another. The query goes to the operator's resolver (``CUSTOM_DOMAIN_DNS_SERVERS``, else the system's), never
to a server the tenant chose, so it is not an egress-guarded fetch (kit/egress.py).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import dns.exception
import dns.nameserver
import dns.resolver
from django.conf import settings
from django.http.request import split_domain_port, validate_host

CHALLENGE_LABEL = "_mcp-auth-challenge"
DNS_TIMEOUT_SECONDS = 5.0
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def challenge_name(domain: str) -> str:
    return f"{CHALLENGE_LABEL}.{domain}"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def normalise(value: str) -> str:
    """The domain in canonical form, or ValueError with a message for the person who typed it."""
    domain = (value or "").strip().lower().rstrip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValueError(f"'{value[:80]}' is not a valid domain name") from exc
    labels = domain.split(".")
    if len(domain) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels) \
            or labels[-1].isdigit():
        raise ValueError(f"'{value[:80]}' is not a domain name like auth.example.com")
    if validate_host(domain, settings.ALLOWED_HOSTS) or domain == split_domain_port(
            settings.PUBLIC_URL.split("://", 1)[-1].split("/", 1)[0])[0]:
        raise ValueError(f"'{domain}' is one of the platform's own host names")
    return domain


@dataclass(frozen=True)
class DomainCheck:
    found: bool
    reason: str  # why not, for the console and the audit event ("" when found)


def _resolver() -> dns.resolver.Resolver:
    servers = settings.CUSTOM_DOMAIN_DNS_SERVERS
    resolver = dns.resolver.Resolver(configure=not servers)
    if servers:
        resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in servers]
    resolver.lifetime = DNS_TIMEOUT_SECONDS
    return resolver


def check_txt_record(domain: str, token: str) -> DomainCheck:
    """Looks for the token among the TXT records of the domain's challenge name (no cache: each check asks)."""
    name = challenge_name(domain)
    try:
        answer = _resolver().resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return DomainCheck(False, f"{name} does not exist")
    except dns.resolver.NoAnswer:
        return DomainCheck(False, f"{name} has no TXT record")
    except dns.resolver.NoNameservers:
        return DomainCheck(False, f"no DNS server answered for {name}")
    except dns.exception.Timeout:
        return DomainCheck(False, f"the DNS query for {name} timed out")
    except dns.exception.DNSException as exc:
        return DomainCheck(False, f"the DNS query for {name} failed ({type(exc).__name__})")
    values = {b"".join(record.strings).decode("utf-8", "replace") for record in answer}
    if token and any(secrets.compare_digest(value, token) for value in values):
        return DomainCheck(True, "")
    return DomainCheck(False, f"the TXT record of {name} does not hold this tenant's token")

