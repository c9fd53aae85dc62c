"""Where a tenant may make the platform connect (a business's own SMTP server, its webhook
endpoints, and any future destination a tenant names): public internet addresses on allowed ports only.

Loopback, private, link-local (169.254.169.254: cloud metadata), shared, reserved and
multicast addresses are refused, as are IPv6 forms that embed such an IPv4 address. The
check runs when a destination is saved and again, after DNS resolution, when it is
connected to; the connection goes to the very address that was vetted, so a name that
resolves elsewhere the second time (DNS rebinding) gains nothing.

Development and tests talk to servers on loopback: ALLOW_PRIVATE_DESTINATIONS says so
explicitly (and production refuses to start with it on).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from core.settings import Settings, parse_ports

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes that carry an IPv4 address a gateway would connect to (RFC 6052 NAT64).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class DestinationRefused(ValueError):
    """A destination the platform will not connect to; the message says why, in words a
    tenant may read (never what a peer answered)."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in network for network in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """True for an address on the public internet, reached by unicast."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> IPAddress | None:
    """The address a host names when it is an IP literal (`[::1]` included), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class DestinationPolicy:
    """Which addresses and ports one kind of tenant destination may use."""

    what: str  # "SMTP server": named in refusals
    allow_private: bool
    ports: frozenset[int] | None  # None: any port
    ports_setting: str  # the setting that lists the ports, named in refusals

    @classmethod
    def for_smtp(cls, settings: Settings) -> DestinationPolicy:
        return cls(
            what="SMTP server",
            allow_private=settings.ALLOW_PRIVATE_DESTINATIONS,
            ports=parse_ports(settings.TENANT_SMTP_PORTS),
            ports_setting="TENANT_SMTP_PORTS",
        )

    @classmethod
    def for_webhooks(cls, settings: Settings) -> DestinationPolicy:
        """A business's webhook endpoint: any port, public addresses only."""
        return cls(
            what="webhook endpoint",
            allow_private=settings.ALLOW_PRIVATE_DESTINATIONS,
            ports=None,
            ports_setting="",
        )

    def check_port(self, port: int) -> None:
        if self.ports is not None and port not in self.ports:
            allowed = ", ".join(str(p) for p in sorted(self.ports))
            raise DestinationRefused(
                f"port {port} is not one a {self.what} may use here (allowed: {allowed}; "
                f"the platform sets them in {self.ports_setting})"
            )

    def check_address(self, host: str, ip: IPAddress) -> None:
        if self.allow_private or is_public(ip):
            return
        named = host if host.strip("[]") == str(ip) else f"{host} ({ip})"
        raise DestinationRefused(
            f"{named} is not a public internet address; a {self.what} must be reachable "
            "on the public internet"
        )

    async def check_saved(self, host: str, port: int, timeout: float) -> None:
        """What a destination must pass to be saved: `vet`, but a name is not looked up
        when private addresses are allowed (there is nothing to refuse)."""
        if self.allow_private and literal_address(host) is None:
            self.check_port(port)
            return
        await self.vet(host, port, timeout)

    async def vet(self, host: str, port: int, timeout: float) -> list[IPAddress]:
        """The addresses `host` stands for, every one of them allowed; DestinationRefused
        when the port or any address is not, or the name does not resolve. OSError (a
        failed lookup that may succeed later) and TimeoutError are the caller's to handle."""
        self.check_port(port)
        literal = literal_address(host)
        if literal is not None:
            self.check_address(host, literal)
            return [literal]
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                raise DestinationRefused(f"{host} does not resolve to any address") from None
            raise
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        for ip in addresses:  # one private answer among public ones is refused too
            self.check_address(host, ip)
        if not addresses:
            raise DestinationRefused(f"{host} does not resolve to any address")
        return addresses

    async def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A socket connected to one of `host`'s vetted addresses, within `timeout` in all.
        The caller owns the socket (close it, or hand it to a transport)."""
        async with asyncio.timeout(timeout):
            addresses = await self.vet(host, port, timeout)
            error: OSError | None = None
            for ip in addresses:
                try:
                    return await _connect(ip, port)
                except OSError as exc:
                    error = exc
            assert error is not None
            raise error


async def _connect(ip: IPAddress, port: int) -> socket.socket:
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (str(ip), port))
    except BaseException:
        sock.close()
        raise
    return sock
