"""The egress guard: every outbound request to an address someone else chose goes through here.

Tenants, clients and identity providers choose URLs the platform then calls (CIMD documents, IdP
discovery, JWKS and token endpoints, SIEM sinks, registration webhooks, registry verification and tool
import, gateway upstreams). Without a guard each of them is a server-side request forgery: the platform
reads its own network for whoever typed the URL. The guard is an httpx transport whose network backend
does the checks at the one place every connection is made:

- the host name is resolved once per connection and *every* answer must be an allowed address; the
  socket then goes to that pinned address (a second DNS answer cannot rebind it), while TLS still sends
  SNI for, and verifies the certificate of, the original host name;
- refused unless the policy allows them: loopback, private (RFC 1918, unique-local), link-local and the
  cloud metadata addresses, CGNAT (100.64/10), multicast, reserved and unspecified ranges, and IPv6 forms
  that embed an IPv4 address (IPv4-mapped, 6to4, Teredo, NAT64), judged by the embedded address;
- plain ``http`` only to addresses the policy explicitly allows (loopback in tests, an operator network);
  public hosts are ``https`` only;
- redirects are not followed unless the caller asks, and each hop goes through the same checks;
- one overall deadline for the whole exchange (connect, TLS, headers, body), not a per-read timeout that
  a server dripping a byte a second can stretch forever; and a size cap enforced while streaming;
- errors never carry the response body, and every failure to get an HTTP answer (refused port, TLS
  failure, a PostgreSQL or Redis port, a timeout) reads the same, so the guard is no port scanner.

The operator widens the policy with ``EGRESS_ALLOWED_NETWORKS`` (comma-separated CIDRs, for every caller);
callers add their own documented switches (``SSO_ALLOW_HTTP_LOOPBACK``, ``SSO_ALLOW_PRIVATE_NETWORKS``,
``AUDIT_SINK_ALLOW_HTTP_LOOPBACK``, ``REGISTRATION_CIMD_ALLOW_LOOPBACK``) through ``policy()``.

This module imports no app of ours and reads Django settings only in ``policy()``.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from urllib.parse import urlsplit

import httpcore
import httpx

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_BYTES = 1024 * 1024
MAX_REDIRECTS = 3

PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                           "fc00::/7"))
# Instance metadata services: never admitted by the loopback / private switches, only by an explicit network.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2",
                                                                 "fd00:ec2::254", "100.100.100.200"))
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")


class EgressError(Exception):
    """An outbound request was refused or failed. The message is safe to show to whoever chose the URL:
    it names the host and the rule, never the response body or how an internal service reacted.
    ``reason`` is a stable code for logs and tests: refused, scheme, url, unreachable, too_large."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Policy:
    """What a caller may reach. ``networks`` are the operator's allowed networks (any address in them
    passes, plain http included); ``loopback``/``private`` admit those classes for callers whose setting
    says so. ``timeout`` is the overall deadline of one fetch; ``max_bytes`` caps a body."""

    loopback: bool = False
    private: bool = False
    networks: tuple = ()
    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    ca_file: str | None = None
    follow_redirects: bool = False

    def replace(self, **changes) -> Policy:
        return replace(self, **changes)


@lru_cache(maxsize=16)
def parse_networks(text: str) -> tuple:
    """``"10.1.0.0/16, fd00:1::/64"`` -> networks; a bad entry raises ValueError naming it."""
    networks = []
    for entry in filter(None, (e.strip() for e in (text or "").split(","))):
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(f"EGRESS_ALLOWED_NETWORKS: {entry!r} is not a network in CIDR form") from exc
    return tuple(networks)


def policy(*, loopback: bool = False, private: bool = False, **options) -> Policy:
    """The operator's policy (``EGRESS_ALLOWED_NETWORKS``) plus a caller's own switches."""
    from django.conf import settings

    networks = parse_networks(getattr(settings, "EGRESS_ALLOWED_NETWORKS", "") or "")
    return Policy(loopback=loopback, private=private, networks=networks, **options)


def _embedded_ipv4(ip):
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None:
            return ip.teredo[1]
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in NAT64_PREFIX:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return embedded
    return ip


def is_public(ip) -> bool:
    """Globally routable, judging IPv6 forms that embed an IPv4 address by that address."""
    ip = ipaddress.ip_address(ip) if isinstance(ip, str) else ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.teredo is not None:
        return all(part.is_global for part in ip.teredo)
    ip = _embedded_ipv4(ip)
    return ip.is_global and not ip.is_multicast


def _parse_ip(text: str):
    return ipaddress.ip_address(text.split("%", 1)[0].strip("[]"))


def explicitly_allowed(ip, pol: Policy) -> bool:
    """Admitted by a switch or an operator network (what makes plain http acceptable)."""
    if any(ip in network for network in pol.networks):
        return True
    judged = _embedded_ipv4(ip)
    if ip in METADATA_ADDRESSES or judged in METADATA_ADDRESSES:
        return False
    if pol.loopback and ip.is_loopback:  # ::1 and 127/8 only: an IPv4-mapped loopback is a smuggling trick
        return True
    return pol.private and any(ip in network for network in PRIVATE_NETWORKS)


def address_allowed(address: str, pol: Policy) -> bool:
    try:
        ip = _parse_ip(address)
    except ValueError:
        return False
    if explicitly_allowed(ip, pol):
        return True
    return ip not in METADATA_ADDRESSES and is_public(ip)


def getaddrinfo(host: str, port: int) -> list[str]:
    """The system resolver. Tests replace ``resolver`` with fixed answers: an answer is an address, or an
    (address, port) pair as getaddrinfo's own socket addresses are, so a test can stand a loopback server
    on a free port in for a real host's 443 (the address is checked the same either way)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]


resolver = getaddrinfo


def refused_message(host: str, address: str) -> str:
    return (f"{host} resolves to {address}, a non-public address the platform does not call (loopback, private, "
            "link-local, metadata or reserved; the operator can allow networks with EGRESS_ALLOWED_NETWORKS)")


def resolve(host: str, port: int, pol: Policy, *, plain_http: bool = False) -> list[tuple[str, int]]:
    """Every (address, port) of ``host``, or EgressError if any address is refused (a split answer is
    refused whole)."""
    host = (host or "").strip("[]")
    if not host:
        raise EgressError("the URL has no host", reason="url")
    try:
        answers = [a if isinstance(a, tuple) else (a, port) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError) as exc:
        raise EgressError(f"{host} does not resolve", reason="unreachable") from exc
    answers = list(dict.fromkeys(answers))
    if not answers:
        raise EgressError(f"{host} does not resolve", reason="unreachable")
    for address, _ in answers:
        if not address_allowed(address, pol):
            raise EgressError(refused_message(host, address), reason="refused")
        if plain_http and not explicitly_allowed(_parse_ip(address), pol):
            raise EgressError(f"http://{host} is not allowed: use https (plain http only reaches networks the "
                              "operator allows)", reason="scheme")
    return answers


def check_url(url: str, pol: Policy | None = None, *, schemes=("https", "http"),
              resolution_required: bool = True) -> str:
    """Save-time validation of a URL someone typed: the scheme, no userinfo, and a resolution that passes
    the policy now (the send-time check is the transport's, on every connection). With
    ``resolution_required=False`` a name that does not resolve yet is accepted (it is checked when used)."""
    pol = pol or policy()
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError as exc:
        raise EgressError("not a valid URL", reason="url") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise EgressError(f"the URL must be {' or '.join(schemes)} with a host", reason="scheme")
    if parts.username is not None or parts.password is not None:
        raise EgressError("the URL must not carry a user name or password", reason="url")
    try:
        resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80), pol,
                plain_http=parts.scheme == "http")
    except EgressError as exc:
        if exc.reason != "unreachable" or resolution_required:
            raise
        if parts.scheme == "http":  # plain http needs an address known to be allowed
            raise EgressError(f"http://{parts.hostname} is not allowed: use https", reason="scheme") from exc
    return url


# --- The deadline and the pinned network backend ------------------------------------------------------

class Deadline:
    """One point in time for a whole exchange; every socket operation gets at most what is left."""

    def __init__(self, seconds: float | None):
        self.at = time.monotonic() + seconds if seconds else None

    def clamp(self, timeout: float | None) -> float | None:
        if self.at is None:
            return timeout
        left = self.at - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("the overall deadline passed")
        return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner, deadline: Deadline):
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        # server_hostname is the URL's host name: SNI and certificate checks are for it, not the pinned IP.
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout)),
                       self._deadline)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner, deadline: Deadline):
        self._inner, self._deadline = inner, deadline

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, self._deadline.clamp(timeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, self._deadline.clamp(timeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, self._deadline.clamp(timeout)),
                            self._deadline)

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


@dataclass
class _Pinning:
    """Resolution shared by a transport: checked once, then every connection goes to those addresses."""

    policy: Policy
    deadline: Deadline
    _answers: dict = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def addresses(self, host: str, port: int, *, plain_http: bool = False) -> list[tuple[str, int]]:
        key = (host, port)
        with self._lock:
            cached = self._answers.get(key)
        if cached is None or cached[0] < time.monotonic():
            cached = (time.monotonic() + 60, resolve(host, port, self.policy))
            with self._lock:
                self._answers[key] = cached
        if plain_http:
            for address, _ in cached[1]:
                if not explicitly_allowed(_parse_ip(address), self.policy):
                    raise EgressError(f"http://{host} is not allowed: use https (plain http only reaches networks "
                                      "the operator allows)", reason="scheme")
        return cached[1]


class _Backend(httpcore.NetworkBackend):
    def __init__(self, pinning: _Pinning):
        self._pinning, self._inner = pinning, httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        host = host.decode("ascii") if isinstance(host, bytes) else host
        last = None
        for address, pinned_port in self._pinning.addresses(host, port):
            try:
                stream = self._inner.connect_tcp(address, pinned_port, self._pinning.deadline.clamp(timeout),
                                                 local_address, socket_options)
                return _Stream(stream, self._pinning.deadline)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last or httpcore.ConnectError("no address")

    def connect_unix_socket(self, *args, **kwargs):  # pragma: no cover - never configured
        raise httpcore.ConnectError("unix sockets are not an egress destination")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    """``core`` is httpcore, or httpcore2 for the MCP SDK's httpx2 clients (same interface)."""

    def __init__(self, pinning: _Pinning, core=httpcore):
        self._pinning, self._core, self._inner = pinning, core, core.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        import anyio.to_thread

        host = host.decode("ascii") if isinstance(host, bytes) else host
        addresses = await anyio.to_thread.run_sync(self._pinning.addresses, host, port)
        last = None
        for address, pinned_port in addresses:
            try:
                stream = await self._inner.connect_tcp(address, pinned_port, self._pinning.deadline.clamp(timeout),
                                                       local_address, socket_options)
                return _AsyncStream(stream, self._pinning.deadline)
            except (self._core.ConnectError, self._core.ConnectTimeout) as exc:
                last = exc
        raise last or self._core.ConnectError("no address")

    async def connect_unix_socket(self, *args, **kwargs):  # pragma: no cover
        raise self._core.ConnectError("unix sockets are not an egress destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def ssl_context(pol: Policy) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if pol.ca_file:
        context.load_verify_locations(cafile=pol.ca_file)  # an extra CA, on top of the system's
    return context


def _check_scheme(request, pinning: _Pinning) -> None:
    scheme = request.url.scheme
    if scheme not in ("http", "https"):
        raise EgressError(f"{scheme}: URLs are not an egress destination", reason="scheme")
    if scheme == "http":
        pinning.addresses(request.url.host, request.url.port or 80, plain_http=True)


class Transport(httpx.HTTPTransport):
    """httpx transport through the guard (sync)."""

    def __init__(self, pol: Policy, deadline: Deadline | None = None):
        context = ssl_context(pol)
        super().__init__(verify=context, trust_env=False)
        self.pinning = _Pinning(pol, deadline or Deadline(None))
        self._pool = httpcore.ConnectionPool(ssl_context=context, network_backend=_Backend(self.pinning), retries=0,
                                             max_connections=20, max_keepalive_connections=5)

    def handle_request(self, request):
        try:
            _check_scheme(request, self.pinning)
            return super().handle_request(request)
        except EgressError as exc:  # as an httpx error, so every httpx caller handles it; the cause says why
            raise httpx.ConnectError(str(exc), request=request) from exc


@lru_cache(maxsize=2)
def _async_transport_class(http_module, core):
    class AsyncTransport(http_module.AsyncHTTPTransport):
        """httpx (or httpx2) transport through the guard (async): gateway upstreams, tool import."""

        def __init__(self, pol: Policy, deadline: Deadline | None = None, *, max_connections: int = 100,
                     cap_body: bool = False):
            context = ssl_context(pol)
            super().__init__(verify=context, trust_env=False)
            self.pinning = _Pinning(pol, deadline or Deadline(None))
            self.cap = pol.max_bytes if cap_body else None
            backend = _AsyncBackend(self.pinning, core)
            self._pool = core.AsyncConnectionPool(ssl_context=context, network_backend=backend, retries=0,
                                                  max_connections=max_connections,
                                                  max_keepalive_connections=min(20, max_connections))

        async def handle_async_request(self, request):
            import anyio.to_thread

            try:
                await anyio.to_thread.run_sync(_check_scheme, request, self.pinning)
                response = await super().handle_async_request(request)
            except EgressError as exc:
                raise http_module.ConnectError(str(exc), request=request) from exc
            if self.cap is not None:
                response.stream = _CappedStream(http_module, response.stream, self.cap, request)
            return response

    class _CappedStream(http_module.AsyncByteStream):
        """A response body that stops being read past the cap (a client library may buffer it whole)."""

        def __init__(self, _module, inner, limit: int, request):
            self.inner, self.limit, self.request = inner, limit, request

        async def __aiter__(self):
            total = 0
            async for chunk in self.inner:
                total += len(chunk)
                if total > self.limit:
                    refused = EgressError(f"{self.request.url.host} sent more than {self.limit} bytes",
                                          reason="too_large")
                    raise http_module.ReadError(str(refused), request=self.request) from refused
                yield chunk

        async def aclose(self):
            await self.inner.aclose()

    return AsyncTransport


AsyncTransport = _async_transport_class(httpx, httpcore)


def unreachable(host: str) -> EgressError:
    """The one answer for every way of not getting an HTTP response: refused port, TLS failure, a
    non-HTTP service, a timeout. Telling them apart would map the network behind the platform."""
    return EgressError(f"{host} did not give a usable HTTP response (unreachable, not HTTP(S), or not within "
                       "the time limit)", reason="unreachable")


def client(pol: Policy | None = None, *, deadline: float | None = None, **kwargs) -> httpx.Client:
    """An httpx.Client through the guard; ``deadline`` (seconds, default the policy's timeout) bounds
    everything done with it. For one exchange, prefer ``fetch``."""
    pol = pol or policy()
    seconds = pol.timeout if deadline is None else deadline
    return httpx.Client(transport=Transport(pol, Deadline(seconds)), timeout=seconds, trust_env=False,
                        follow_redirects=pol.follow_redirects, max_redirects=MAX_REDIRECTS, **kwargs)


def async_client(pol: Policy | None = None, *, timeout=None, **kwargs) -> httpx.AsyncClient:
    """An httpx.AsyncClient through the guard, without an overall deadline (long-lived streams)."""
    pol = pol or policy()
    return httpx.AsyncClient(transport=AsyncTransport(pol), timeout=timeout if timeout is not None else pol.timeout,
                             trust_env=False, follow_redirects=False, **kwargs)


def httpx2_async_client(pol: Policy | None = None, *, timeout=None, **kwargs):
    """The same for the MCP SDK, whose streamable-HTTP client takes an httpx2.AsyncClient."""
    import httpcore2
    import httpx2

    pol = pol or policy()
    transport = _async_transport_class(httpx2, httpcore2)(pol, cap_body=True)
    return httpx2.AsyncClient(transport=transport, timeout=timeout if timeout is not None else pol.timeout,
                              trust_env=False, follow_redirects=False, **kwargs)


def egress_error_in(exc: BaseException) -> EgressError | None:
    """The EgressError behind an exception (exception groups and causes included), if any."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, EgressError):
            return current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend([current.__cause__, current.__context__])
    return None


@dataclass
class Response:
    status_code: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self):
        import json

        return json.loads(self.content)


def fetch(method: str, url: str, pol: Policy | None = None, **kwargs) -> Response:
    """One exchange through the guard: the body is read as it streams, against ``pol.max_bytes`` and the
    overall deadline. Raises EgressError (a refused address, a URL that is not http(s), no usable
    response, a body over the cap). Redirects come back as responses unless the policy follows them;
    a followed hop passes the same checks."""
    pol = pol or policy()
    try:
        host = urlsplit(url).hostname or ""
    except ValueError as exc:
        raise EgressError("not a valid URL", reason="url") from exc
    try:
        with client(pol) as http, http.stream(method, url, **kwargs) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > pol.max_bytes:
                raise EgressError(f"{host} sent more than {pol.max_bytes} bytes", reason="too_large")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > pol.max_bytes:
                    raise EgressError(f"{host} sent more than {pol.max_bytes} bytes", reason="too_large")
            return Response(response.status_code, response.headers, bytes(body), str(response.url))
    except httpx.TooManyRedirects as exc:
        raise EgressError(f"{host} redirects too often", reason="unreachable") from exc
    except (httpx.HTTPError, httpcore.TimeoutException, ssl.SSLError, OSError) as exc:
        raise egress_error_in(exc) or failure(host, exc) from exc


def failure(host: str, exc: BaseException) -> EgressError:
    """The EgressError for a failed exchange. Only a certificate that does not verify is named (a TLS
    server answered, with the wrong name or CA: what an admin must fix); anything else is ``unreachable``."""
    cause = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return EgressError(f"the TLS certificate of {host} does not verify for that name", reason="certificate")
        cause = cause.__cause__ or cause.__context__
    return unreachable(host)
