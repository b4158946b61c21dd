"""Webhooks as Twilio sends them: form-encoded, signed, with Twilio's time limits.

Two transports reach the application under test: a WSGI app called in process (fast, for
the virtual clock) and a base URL over HTTP (a running gateway). Both see the same signed
requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPSConnection
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator
from werkzeug.test import Client

HTTP_RETRIEVAL_FAILURE = 11200
HTTP_TIMEOUT = 11205
INVALID_CONTENT_TYPE = 12300
# Twilio's defaults: 5 s to connect, 15 s for the whole response.
CONNECT_TIMEOUT_MS = 5000
READ_TIMEOUT_MS = 15000
USER_AGENT = "TwilioProxy/1.1 (carrier_sim)"


@dataclass
class HttpResult:
    """What came back from one webhook request.

    Attributes:
        status: HTTP status, or 0 when no response arrived.
        body: the response text.
        content_type: the media type without parameters.
        elapsed: wall-clock seconds the request took.
        error_code: Twilio's error code when the request failed (11200, 11205), else 0.
        error: what went wrong, for the timeline.
    """

    status: int
    body: str = ""
    content_type: str = ""
    elapsed: float = 0.0
    error_code: int = 0
    error: str = ""

    @property
    def ok(self) -> bool:
        """True for a 2xx response."""
        return self.error_code == 0 and 200 <= self.status < 300


class Transport(Protocol):
    """Carries one HTTP request to the application under test."""

    def send(
        self,
        method: str,
        url: str,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
    ) -> HttpResult:
        """Send the request; `timeouts` are (connect, read) seconds."""
        ...


class WsgiTransport:
    """Calls a WSGI application directly, as if it lived at `base_url`.

    Args:
        app: the WSGI application under test.
        base_url: the public URL the application believes it is served at; the signature
            covers it, so it must be what the application reconstructs from the request.
    """

    def __init__(self, app: Callable[..., Any], base_url: str) -> None:
        self.client = Client(app)
        self.base_url = base_url.rstrip("/")

    def send(
        self,
        method: str,
        url: str,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
    ) -> HttpResult:
        """Dispatch into the app; a URL on another host cannot be reached in process."""
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        if base != self.base_url:
            return HttpResult(
                0, error_code=HTTP_RETRIEVAL_FAILURE, error=f"{base} is not the app under test"
            )
        started = time.monotonic()
        response = self.client.open(
            parts.path or "/",
            base_url=base,
            method=method,
            query_string=parts.query,
            data=dict(form) if method == "POST" else None,
            headers=dict(headers),
        )
        elapsed = time.monotonic() - started
        body = response.get_data(as_text=True)
        # A WSGI server closes the response once it is sent, which runs the application's
        # work scheduled for after it (call_on_close); so must this transport.
        response.close()
        result = HttpResult(response.status_code, body, response.mimetype or "", elapsed)
        if elapsed > timeouts[1]:
            result.error_code, result.error = HTTP_TIMEOUT, f"no response in {timeouts[1]} s"
        return result


class HttpTransport:
    """Sends real HTTP requests to a running application, one connection each, as
    Twilio's webhook sender does; safe to share between threads.

    Built on http.client rather than requests: the simulator's own time per webhook is
    part of every response time a load run measures, and requests spent about 1 ms more
    of it per request (session and environment lookups) than the request itself needed.
    """

    def send(
        self,
        method: str,
        url: str,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
    ) -> HttpResult:
        """POST or GET with Twilio's connect and read limits."""
        started = time.monotonic()
        parts = urlsplit(url)
        kind = HTTPSConnection if parts.scheme == "https" else HTTPConnection
        connection = kind(parts.hostname or "", parts.port, timeout=timeouts[0])
        body = urlencode(dict(form)) if method == "POST" else None
        sent = {"Connection": "close", **headers}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.connect()
            if connection.sock is not None:
                connection.sock.settimeout(timeouts[1])
            target = urlunsplit(("", "", parts.path or "/", parts.query, ""))
            connection.request(method, target, body=body, headers=sent)
            response = connection.getresponse()
            raw = response.read()
        except TimeoutError as exc:
            return _failed(started, HTTP_TIMEOUT, f"no response in time: {exc}")
        except (OSError, HTTPException) as exc:
            return _failed(started, HTTP_RETRIEVAL_FAILURE, f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()
        message = response.headers
        text = raw.decode(message.get_content_charset() or "utf-8", errors="replace")
        mimetype = message.get_content_type() if message.get("Content-Type") else ""
        return HttpResult(response.status, text, mimetype, time.monotonic() - started)


def _failed(started: float, code: int, error: str) -> HttpResult:
    return HttpResult(0, elapsed=time.monotonic() - started, error_code=code, error=error)


def resolve(base: str | None, url: str) -> str:
    """Resolve a relative TwiML URL against the document it came from, as Twilio does."""
    return urljoin(base or "", url)


def split_overrides(url: str) -> tuple[str, tuple[float, float]]:
    """Strip the `#ct=..&rt=..` fragment and return (url, (connect, read) seconds).

    Twilio reads connection overrides from the URL fragment; the fragment is never sent,
    so it is not part of the signed URL either.
    """
    parts = urlsplit(url)
    settings = dict(parse_qsl(parts.fragment))
    connect = _millis(settings.get("ct"), CONNECT_TIMEOUT_MS)
    read = _millis(settings.get("rt"), READ_TIMEOUT_MS)
    return urlunsplit(parts._replace(fragment="")), (connect / 1000, read / 1000)


def _millis(value: str | None, default: int) -> float:
    if value is None or not value.isdigit():
        return float(default)
    return float(min(int(value), READ_TIMEOUT_MS))


def signature(auth_token: str, url: str, form: Mapping[str, str]) -> str:
    """X-Twilio-Signature for a request, computed with twilio's own RequestValidator."""
    return str(RequestValidator(auth_token).compute_signature(url, dict(form)))


class WebhookClient:
    """Signs and sends webhooks through a transport.

    Args:
        transport: how requests reach the application.
        auth_token: the account's auth token, the signing key.
        on_answer: called after each request, answered or not.
    """

    def __init__(
        self,
        transport: Transport,
        auth_token: str,
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        self.transport = transport
        self.auth_token = auth_token
        self.on_answer = on_answer

    def request(
        self,
        method: str,
        url: str,
        form: Mapping[str, str],
        token: str = "",
        signing_token: str | None = None,
    ) -> tuple[str, HttpResult]:
        """Send one webhook.

        Args:
            method: GET or POST.
            url: the absolute URL, possibly with a `#ct=..&rt=..` fragment.
            form: the webhook parameters.
            token: the I-Twilio-Idempotency-Token; a redelivery reuses the first one's.
            signing_token: sign with this instead of the account's token ("" for no
                signature at all): only forged requests in a scenario do this.

        Returns:
            (the URL actually requested, the result). For GET the parameters move into the
            query string, and the signature covers that full URL with no body.
        """
        target, timeouts = split_overrides(url)
        method = method.upper()
        body: Mapping[str, str] = form
        if method == "GET":
            separator = "&" if urlsplit(target).query else "?"
            target = f"{target}{separator}{urlencode(dict(form))}" if form else target
            body = {}
        key = self.auth_token if signing_token is None else signing_token
        headers = {
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": token or f"{time.monotonic_ns():x}",
        }
        if key:
            headers["X-Twilio-Signature"] = signature(key, target, body)
        result = self.transport.send(method, target, body, headers, timeouts)
        if self.on_answer is not None:
            self.on_answer()
        if result.error_code == 0 and not 200 <= result.status < 300:
            result.error_code = HTTP_RETRIEVAL_FAILURE
            result.error = f"HTTP {result.status}"
        return target, result
