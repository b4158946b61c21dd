"""The telephony port: the gateway's one seam to Twilio's REST API.

`Telephony` is the only code that calls Twilio REST (`ring`, `hang_up`, `redirect`,
`announce`, `leg_status`). It turns every failure, Twilio's refusal or no answer at all,
into `TelephonyError`, so the services never handle the library's exceptions. The client
underneath comes from `build_client`.

In production the client talks to https://api.twilio.com. With `api_base_url` set (the
TWILIO_API_BASE_URL setting), every request for that host goes to the base URL instead,
e.g. the carrier simulator at http://127.0.0.1:8765. This is done by an HttpClient that the
twilio library accepts as a constructor argument; the library itself is never patched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests import RequestException
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

TWILIO_API_URL = "https://api.twilio.com"


def rewrite_url(url: str, api_base_url: str) -> str:
    """Point a Twilio API URL at `api_base_url`, keeping its path and query.

    Raises:
        TwilioException: for a URL on another Twilio host. With a base URL configured the
            gateway must not reach the real Twilio, so anything not routed is refused.
    """
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != TWILIO_API_URL:
        raise TwilioException(f"{parts.netloc} is not routed to {api_base_url}")
    base = urlsplit(api_base_url)
    prefix = base.path.rstrip("/")
    return urlunsplit((base.scheme, base.netloc, prefix + parts.path, parts.query, ""))


# twilio ships no type information, so mypy sees its classes as Any.
class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """twilio's own HTTP client, sending requests for api.twilio.com to another base URL.

    Args:
        api_base_url: where the REST API lives, e.g. "http://127.0.0.1:8765".
        timeout: seconds before a request is abandoned.
    """

    def __init__(self, api_base_url: str, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.api_base_url = api_base_url

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request to the configured base URL."""
        return super().request(
            method,
            rewrite_url(url, self.api_base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


class ReportingHttpClient(HttpClient):  # type: ignore[misc]
    """Wraps an HttpClient so a request that never got an answer raises TwilioException.

    twilio raises TwilioRestException for an error answer, but lets the transport's own
    errors through (requests' ConnectionError, ReadTimeout...). Every caller in the gateway
    handles TwilioException (a refused leg rolls over to the next center, an escalation
    to the next number); a network error escaping instead would leave the step half done.
    A timeout does not say the request was not carried out: the gateway treats the leg as
    failed and ignores the webhooks of a leg it does not know.
    """

    def __init__(self, inner: HttpClient) -> None:
        super().__init__(logger=inner.logger, is_async=False, timeout=inner.timeout)
        self.inner = inner

    def request(self, method: str, url: str, **options: Any) -> Response:
        """Send the request through the wrapped client, with twilio's options as they are."""
        try:
            return self.inner.request(method, url, **options)
        except RequestException as exc:
            # The class name only: the URL and body may name phone numbers.
            raise TwilioException(f"no answer from Twilio: {type(exc).__name__}") from exc


def build_client(
    account_sid: str,
    auth_token: str,
    api_base_url: str | None = None,
    *,
    http_client: HttpClient | None = None,
    timeout: float | None = 10.0,
) -> Client:
    """Build the Twilio REST client the gateway uses.

    Args:
        account_sid: TWILIO_ACCOUNT_SID.
        auth_token: TWILIO_AUTH_TOKEN.
        api_base_url: TWILIO_API_BASE_URL; None or "" means the real Twilio.
        http_client: an HttpClient to use as is (the simulator's in-process one);
            takes precedence over `api_base_url`.
        timeout: seconds before a REST request is abandoned.

    Returns:
        A twilio.rest.Client. Passing `environment={}` keeps it from reading TWILIO_*
        variables behind the settings module's back.
    """
    if http_client is None:
        http_client = (
            BaseUrlHttpClient(api_base_url, timeout=timeout)
            if api_base_url
            else TwilioHttpClient(timeout=timeout)
        )
    client = Client(
        account_sid, auth_token, http_client=ReportingHttpClient(http_client), environment={}
    )
    # twilio imports its REST resources on first use, about 75 ms here: done now, at start,
    # instead of inside the first caller's webhook after each deploy or worker restart.
    _warm = (client.calls, client.conferences)
    del _warm
    return client


class TelephonyError(Exception):
    """Twilio refused a request or never answered it. The text names the request and the
    error's class, never a phone number (Twilio's own messages may quote one)."""


@dataclass(frozen=True)
class Leg:
    """A call to place: the number, the caller id shown, its webhooks and how long it rings.

    Attributes:
        to: the number to ring.
        caller_id: the gateway's number, shown to the person answering.
        answer_url: fetched when the leg answers (the whisper), with AnsweredBy.
        status_url: the leg's status callback, sent only when the leg ends.
        fallback_url: fetched when answer_url fails.
        timeout_s: seconds of ringing before "no-answer".
    """

    to: str
    caller_id: str
    answer_url: str
    status_url: str
    fallback_url: str
    timeout_s: int


# A leg's status callback is asked for only when the leg ends ("completed" brings every final
# status): the flow acts on nothing earlier, and each extra event is one more webhook per leg
# under load. Answering is learned from the leg's own answer_url webhook (the whisper).
LEG_EVENTS = ["completed"]


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (TwilioException, RequestException) as exc:
        raise TelephonyError(f"{what}: {type(exc).__name__}") from exc


class Telephony:
    """The calls the gateway makes to Twilio, one method per request.

    Args:
        client: a twilio.rest.Client from `build_client` (or the simulator's).
    """

    def __init__(self, client: Client) -> None:
        self.client = client

    def ring(self, leg: Leg) -> str:
        """Place a call with answering machine detection; its call SID."""
        with _translated("ring"):
            call = self.client.calls.create(
                to=leg.to,
                from_=leg.caller_id,
                url=leg.answer_url,
                method="POST",
                fallback_url=leg.fallback_url,
                status_callback=leg.status_url,
                status_callback_event=LEG_EVENTS,
                status_callback_method="POST",
                timeout=leg.timeout_s,
                machine_detection="Enable",
            )
            return str(call.sid)

    def hang_up(self, call_sid: str, *, answered: bool) -> None:
        """Cancel a ringing leg, or end an answered one.

        Twilio cancels only a ringing call with "canceled"; an answered one needs
        "completed".
        """
        with _translated("hang up"):
            self.client.calls(call_sid).update(status="completed" if answered else "canceled")

    def redirect(self, call_sid: str, url: str) -> None:
        """Make a live leg fetch new TwiML from `url`."""
        with _translated("redirect"):
            self.client.calls(call_sid).update(url=url, method="POST")

    def announce(self, conference_sid: str, call_sid: str, url: str) -> None:
        """Play the document at `url` to one participant of a conference."""
        with _translated("announce"):
            self.client.conferences(conference_sid).participants(call_sid).update(
                announce_url=url, announce_method="POST"
            )

    def leg_status(self, call_sid: str) -> str:
        """The call's status as Twilio has it now ("ringing", "in-progress", "completed"...)."""
        with _translated("leg status"):
            return str(self.client.calls(call_sid).fetch().status)

    def room_open(self, name: str) -> bool:
        """Whether a conference of this friendly name is open: someone waits in it
        ("init", before its start) or talks in it ("in-progress")."""
        with _translated("room status"):
            rooms = self.client.conferences.list(friendly_name=name, limit=5)
            return any(room.status in {"init", "in-progress"} for room in rooms)
