"""Who may talk to the dashboard, and what its replies allow a browser to do (reliability.md §6).

- It binds 127.0.0.1 unless told otherwise; any other address needs a token (`dashboard_token`), read from
  the environment (`LA_DASHBOARD__TOKEN`) or a file only its owner can read, never from a config file.
- The `Host` header must name the bound address (or `localhost` on a loopback bind, any IP literal on a
  wildcard bind) or a configured name: a DNS-rebinding page (Host: evil.example) gets 421.
- With a token, every request carries it: `Authorization: Bearer`, or the session cookie (derived from the
  token) a browser gets by opening `/?token=...` once. Compared in constant time.
- A state-changing request is a POST with the page's CSRF token (`X-CSRF-Token`) and a same-origin
  `Origin`; a script with the bearer token needs neither (a browser cannot add that header cross-site).
- Every reply forbids scripts, styles and frames from anywhere but the server itself (CSP), sniffing
  and referrers; API replies are not cached.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import stat
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from laptop_agents.base import scrub
from laptop_agents.config.models import DashboardConfig
from laptop_agents.core.errors import InputError
from laptop_agents.reporting.html_report import script_hashes

COOKIE = "la_dashboard"
CSRF_HEADER = "X-CSRF-Token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
REPORT_CSP = (
    f"default-src 'none'; script-src {script_hashes()}; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; frame-ancestors 'none'"
)
"""`summary.html` is a self-contained file with its own <style> and the reports' own inline scripts, allowed
by their hashes: a script anything else put in the page does not run."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split_host(header: str) -> tuple[str, str]:
    """`name:port` or `[v6]:port` (the port may be absent)."""
    if header.startswith("["):
        end = header.find("]")
        if end < 0:
            return "", ""
        rest = header[end + 1 :]
        return header[1:end], rest[1:] if rest.startswith(":") else ""
    name, _, port = header.partition(":")
    return name, port


def dashboard_token(config: DashboardConfig) -> str | None:
    """The token from the environment or `dashboard.token_file`; refuses a file others can read. Once read,
    its value is scrubbed from everything the process writes (`base.scrub`)."""
    token = _read_token(config)
    if token is not None:
        scrub.register(token)
    return token


def _read_token(config: DashboardConfig) -> str | None:
    if config.token is not None:
        token = config.token.get_secret_value().strip()
        if not token:
            raise InputError("dashboard.token: LA_DASHBOARD__TOKEN is empty; set a long random value or unset it")
        return token
    if config.token_file is None:
        return None
    path = Path(config.token_file).expanduser()
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise InputError(f"dashboard.token_file: cannot read {path} ({exc.strerror}); check the path") from None
    if os.name != "nt" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InputError(
            f"dashboard.token_file: {path} is readable by others (mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    if not text:
        raise InputError(f"dashboard.token_file: {path} is empty; write the token into it")
    return text


def check_bind(host: str, token: str | None, *, what: str = "dashboard") -> None:
    """A non-loopback bind without a token is refused before anything listens."""
    if token is None and not is_loopback(host):
        raise InputError(
            f"{what}.host: {host} is not a loopback address, so the dashboard needs a token: set "
            "LA_DASHBOARD__TOKEN or dashboard.token_file (or bind 127.0.0.1 and reach it over SSH)"
        )


@dataclass
class Guard:
    """The checks every request passes (an aiohttp middleware), for one bound address."""

    host: str
    port: int
    token: str | None = None
    allowed_hosts: tuple[str, ...] = ()
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def host_allowed(self, header: str) -> bool:
        name, port = _split_host(header)
        if not name or (port and port != str(self.port)):
            return False
        name = name.lower()
        if name == self.host.lower() or name in (h.lower() for h in self.allowed_hosts):
            return True
        if is_loopback(self.host) and is_loopback(name):
            return True
        return self.host in ("0.0.0.0", "::") and _is_ip(name)

    def session(self) -> str:
        """The browser's session cookie: derived from the token (the token itself never sits in a cookie)."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"laptop-agents dashboard session", "sha256").hexdigest()

    def _credential(self, request: web.Request) -> str | None:
        """What authorised the request: "none" (no token configured), "bearer", "cookie", or None."""
        if self.token is None:
            return "none"
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), self.token.encode()):
            return "bearer"
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session().encode()):
            return "cookie"
        return None

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        return origin is not None and origin in (f"http://{request.host}", f"https://{request.host}")

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.host_allowed(request.headers.get("Host", "")):
            return _secure(web.Response(status=421, text="421: this dashboard is not served under that host name\n"))
        query_token = request.query.get("token")
        if query_token is not None and self.token is not None and request.method == "GET":
            if not hmac.compare_digest(query_token.encode(), self.token.encode()):
                return _secure(web.Response(status=401, text="401: wrong dashboard token\n"))
            onward = request.rel_url.with_query({k: v for k, v in request.query.items() if k != "token"})
            redirect = web.Response(status=303, headers={"Location": str(onward)})  # the token leaves the URL
            redirect.set_cookie(COOKIE, self.session(), httponly=True, samesite="Strict", path="/")
            return _secure(redirect)
        credential = self._credential(request)
        if credential is None:
            return _secure(web.Response(status=401, text="401: this dashboard needs its token (?token=... once, "
                                        "or Authorization: Bearer)\n"))  # fmt: skip
        if request.method not in ("GET", "HEAD"):
            if request.method != "POST":
                return _secure(web.Response(status=405, text="405: the dashboard changes state by POST only\n"))
            if credential != "bearer":  # a browser's request: only a same-origin page of ours can send these
                if not self._same_origin(request):
                    return _secure(web.Response(status=403, text="403: cross-origin request refused\n"))
                if not hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), self.csrf.encode()):
                    return _secure(web.Response(status=403, text="403: missing or wrong CSRF token\n"))
        try:
            reply = await handler(request)
        except web.HTTPException as exc:  # a 404 or 400 of a handler, with the same headers as any reply
            plain = web.Response(status=exc.status, text=exc.text, headers=exc.headers)
            return _secure(plain)
        return _secure(reply, report=request.path.endswith("/summary.html"))


def _secure(reply: web.StreamResponse, *, report: bool = False) -> web.StreamResponse:
    if reply.prepared:  # a stream (SSE) already sent its headers, with these set
        return reply
    secure_headers(reply, report=report)
    return reply


def secure_headers(reply: web.StreamResponse, *, report: bool = False) -> None:
    headers = reply.headers
    headers["Content-Security-Policy"] = REPORT_CSP if report else CSP
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers.setdefault("Cache-Control", "no-store")
