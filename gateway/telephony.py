"""The gateway's one seam to Twilio: every REST request goes through `build_client`.

In production the client talks to https://api.twilio.com. With `api_base_url` set (the
TWILIO_API_BASE_URL setting), every request for that host goes to the base URL instead,
e.g. the carrier simulator at http://127.0.0.1:8765. This is done by an HttpClient that the
twilio library accepts as a constructor argument; the library itself is never patched.
"""

from __future__ import annotations

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
