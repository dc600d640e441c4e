"""Sending: webhooks over urllib3, mail over smtplib, and the outcome of each try.

Every send has a timeout. Outcomes classify failures the way the worker
retries them: connection errors, timeouts, HTTP 5xx and 429 (with its
``Retry-After``) and temporary SMTP errors are retried; other HTTP 4xx,
permanent SMTP errors and refused destinations are final.
"""

from __future__ import annotations

import ipaddress
import smtplib
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import urllib3

from sqlqueue.notify.payloads import Request, Unsendable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
READ_LIMIT = 65536
"""Bytes of a subscriber's answer read (the rest is dropped with the connection)."""


@dataclass(frozen=True)
class Outcome:
    """How one try ended; ``retry_after`` in seconds when the receiver asked."""

    ok: bool
    retry: bool = False
    error: str = ""
    retry_after: float | None = None


DELIVERED = Outcome(ok=True)


def final(error: str) -> Outcome:
    """A failure that retrying cannot fix."""
    return Outcome(ok=False, retry=False, error=error)


def retryable(error: str, retry_after: float | None = None) -> Outcome:
    """A failure worth trying again."""
    return Outcome(ok=False, retry=True, error=error, retry_after=retry_after)


def networks(text: str) -> list[Network]:
    """Comma-separated networks. :raises ValueError: one does not parse."""
    return [
        ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()
    ]


class Refused(Unsendable):
    """The destination is in a denied network."""


class NetworkGuard:
    """Refuses webhook destinations in denied networks (unless allowed explicitly)."""

    def __init__(self, deny: Sequence[Network], allow: Sequence[Network] = ()) -> None:
        self._deny = list(deny)
        self._allow = list(allow)

    def check(self, url: str) -> Address | None:
        """Resolve the URL's host once; the address to connect to, or None for any.

        The sender connects to the returned address itself (with the URL's
        host in ``Host`` and in TLS), so a name that resolves elsewhere on a
        second lookup (DNS rebinding) cannot reach a denied network. With
        no denied networks nothing is resolved here (None).

        :raises Refused: an address is in a denied network and no allowed one.
        :raises OSError: the host does not resolve (worth retrying).
        """
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise Unsendable(f"no host in {url!r}")
        if not self._deny:
            return None
        found = self._addresses(host, parts.port)
        for address in found:
            self._check_address(host, address)
        return found[0]

    @staticmethod
    def _addresses(host: str, port: int | None) -> list[Address]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        found = socket.getaddrinfo(host, port or 80, type=socket.SOCK_STREAM)
        return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]

    def _check_address(self, host: str, address: Address) -> None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in net for net in self._allow):
            return
        for net in self._deny:
            if address in net:
                raise Refused(f"destination {host} ({address}) is in the denied network {net}")


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class HttpSender:
    """POSTs webhooks with a timeout, no redirects and no retries of its own."""

    def __init__(self, timeout: float, guard: NetworkGuard, *, connections: int = 4) -> None:
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout, total=timeout)
        self._guard = guard
        self._pool = urllib3.PoolManager(num_pools=64, maxsize=connections, retries=False)

    def send(self, request: Request) -> Outcome:
        """One try."""
        try:
            address = self._guard.check(request.url)
        except Unsendable as ex:
            return final(str(ex))
        except OSError as ex:
            return retryable(f"cannot resolve the destination: {ex}")
        try:
            response = self._post(request, address)
        except (urllib3.exceptions.LocationValueError, ValueError) as ex:
            return final(f"bad destination: {ex}")
        except urllib3.exceptions.TimeoutError:
            return retryable(f"no answer within {self._timeout.total} s")
        except (urllib3.exceptions.HTTPError, OSError) as ex:
            return retryable(f"connection failed: {ex}")
        return self._outcome(response)

    def _post(self, request: Request, address: Address | None) -> urllib3.BaseHTTPResponse:
        """POST to the URL, connecting to ``address`` when the guard chose one."""
        parts = urlsplit(request.url)
        if address is None:
            pool = self._pool.connection_from_url(request.url)
            headers = request.headers
        else:
            tls = parts.scheme == "https"
            host = str(parts.hostname)
            pool = self._pool.connection_from_host(
                str(address),
                port=parts.port or (443 if tls else 80),
                scheme=parts.scheme,
                pool_kwargs={"server_hostname": host, "assert_hostname": host} if tls else None,
            )
            headers = {**request.headers, "Host": parts.netloc.rpartition("@")[2]}
        return pool.urlopen(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=request.body,
            headers=headers,
            redirect=False,
            retries=False,
            timeout=self._timeout,
            preload_content=False,
            assert_same_host=False,
        )

    @staticmethod
    def _outcome(response: urllib3.BaseHTTPResponse) -> Outcome:
        status = response.status
        try:
            response.read(READ_LIMIT)
        except (urllib3.exceptions.HTTPError, OSError):
            pass
        finally:
            response.close()
        if status < 400:
            return DELIVERED
        error = f"HTTP {status}"
        if status == 429 or status >= 500:
            return retryable(error, retry_after(response.headers.get("Retry-After"), time.time()))
        return final(error)


@dataclass(frozen=True)
class SmtpConfig:
    """Where mail goes: ``security`` is ``none``, ``starttls`` or ``ssl``."""

    host: str = ""
    port: int = 25
    security: str = "none"
    user: str = ""
    password: str = ""


class SmtpSender:
    """Sends one mail per try through the configured SMTP server."""

    def __init__(self, config: SmtpConfig, timeout: float) -> None:
        self.config = config
        self._timeout = timeout

    def send(self, mail: EmailMessage) -> Outcome:
        """One try: connect, (STARTTLS,) (LOGIN,) send, QUIT."""
        cfg = self.config
        if not cfg.host:
            return final("no SMTP server is configured (smtp_host)")
        try:
            with self._connect() as smtp:
                if cfg.security == "starttls":
                    smtp.starttls(context=ssl.create_default_context())
                if cfg.user:
                    smtp.login(cfg.user, cfg.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as ex:
            codes = [code for code, _ in ex.recipients.values()]
            error = f"SMTP refused the recipient: {ex.recipients}"
            return retryable(error) if all(400 <= c < 500 for c in codes) else final(error)
        except smtplib.SMTPResponseException as ex:
            error = f"SMTP {ex.smtp_code}: {ex.smtp_error!r}"
            return retryable(error) if 400 <= ex.smtp_code < 500 else final(error)
        except (smtplib.SMTPException, OSError) as ex:
            return retryable(f"SMTP connection failed: {ex}")
        return DELIVERED

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        if cfg.security == "ssl":
            return smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=self._timeout, context=ssl.create_default_context()
            )
        return smtplib.SMTP(cfg.host, cfg.port, timeout=self._timeout)
