"""What a request came over, behind a reverse proxy: HTTPS or not, and the client's address.

A TLS-terminating proxy (nginx, HAProxy, Caddy) talks plain HTTP to us and says what the
browser used in ``X-Forwarded-Proto`` and who it is in ``X-Forwarded-For``. Anybody can send
those headers, so they are believed only from the addresses in ``http.trusted_proxies``:

- HTTPS: ``http.secure_cookies`` on, or a TLS connection to us, or a trusted proxy's last
  ``X-Forwarded-Proto`` is ``https``. Then the session cookie is ``Secure`` (and
  ``__Host-``-prefixed) and answers carry ``Strict-Transport-Security``.
- The client's address: the rightmost ``X-Forwarded-For`` entry that is not itself a trusted
  proxy (each proxy appends the address it saw; entries left of an untrusted hop may be
  forged), else the TCP peer. The login rate limit and the audit log use it, so behind one
  proxy a shift is not one address.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from callcenter.settings import HttpSettings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Transport:
    def __init__(self, settings: HttpSettings) -> None:
        self._always_https = settings.secure_cookies
        self._proxies: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in settings.trusted_proxies
        )
        self.hsts_max_age_s = settings.hsts_max_age_s

    def _trusted(self, address: str | None) -> bool:
        if not address or not self._proxies:
            return False
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    def is_https(self, request: web.BaseRequest) -> bool:
        if self._always_https or (request.transport is not None and _is_tls(request)):
            return True
        if not self._trusted(request.remote):
            return False
        values = request.headers.getall("X-Forwarded-Proto", [])
        last = values[-1].split(",")[-1].strip().lower() if values else ""
        return last == "https"

    def client_address(self, request: web.BaseRequest) -> str:
        remote = request.remote or ""
        if not self._trusted(remote):
            return remote
        hops = [
            h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")
        ]
        for hop in reversed(hops):
            if self._trusted(hop):
                continue
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # a garbled chain: the proxy's own address, not a guess
        return remote


def _is_tls(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is not None and transport.get_extra_info("sslcontext") is not None


__all__ = ["Transport"]
