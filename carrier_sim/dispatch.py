"""Webhooks and status callbacks: how the carrier talks to the application.

Requests are signed by `WebhookClient`; here they are built from a leg's state,
recorded on the timeline, and (in load mode) sent on a thread pool so the event loop
never waits for the application.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING

from carrier_sim.control import FetchStep
from carrier_sim.model import Call, Wait, Wake, new_sid
from carrier_sim.scenario import Forgery
from carrier_sim.webhooks import HTTP_RETRIEVAL_FAILURE, HttpResult, resolve

if TYPE_CHECKING:
    from carrier_sim.engine import Engine

API_VERSION = "2010-04-01"
HTTP_CHANNEL = "http:"


class Dispatch:
    """Sends every request the carrier makes to the application."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def call_params(self, call: Call) -> dict[str, str]:
        """The standard parameters of every voice webhook about `call`."""
        params = {
            "AccountSid": call.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": call.status,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        for name, value in call.sip_headers.items():
            params[f"SipHeader_{name}"] = value
        return params

    def fetch(
        self, call: Call, method: str, url: str, extra: dict[str, str], *, media: bool = False
    ) -> HttpResult:
        """Request TwiML for `call` and record the exchange (`media`: see `_log_webhook`)."""
        form = {**self.call_params(call), **extra}
        started = self.engine.now()
        with self.engine.unlocked():
            sent_to, result = self.engine.webhooks.request(method, url, form)
        self._log_webhook(call, method, form, started, sent_to, result, media=media)
        return result

    def _log_webhook(
        self,
        call: Call,
        method: str,
        form: dict[str, str],
        started: float,
        sent_to: str,
        result: HttpResult,
        *,
        media: bool = False,
    ) -> None:
        """Record one webhook. `media`: a document only played to the leg (a waitUrl or an
        announceUrl), which cannot change where the call goes."""
        self.engine.log(
            call,
            "webhook",
            f"{method} {sent_to} -> {result.status or result.error} "
            f"({result.elapsed * 1000:.0f} ms)",
            url=sent_to,
            method=method,
            params=form,
            status=result.status,
            body=result.body,
            elapsed=result.elapsed,
            started=started,
            media=media,
        )

    def fetch_step(
        self, call: Call, method: str, url: str, extra: dict[str, str], *, media: bool = False
    ) -> FetchStep:
        """Request TwiML for `call` from inside its program; in load mode without blocking."""
        if self.engine.executor is None:
            return self.fetch(call, method, url, extra, media=media)
        form = {**self.call_params(call), **extra}
        channel = f"{HTTP_CHANNEL}{new_sid('HT')}"

        def arrived(started: float, sent_to: str, result: HttpResult) -> None:
            self._log_webhook(call, method, form, started, sent_to, result, media=media)
            if call.waiting is not None and call.waiting.channel == channel:
                self.engine.programs.resume(call, Wake("signal", "http", {"result": result}))
            for action in self.engine.held.pop(call.sid, []):
                self.engine.soon(action, "held")

        self._send_detached(method, url, form, "", arrived)
        while True:
            wake = yield Wait(None, doing="fetching TwiML", channel=channel)
            if wake.kind == "signal" and wake.key == "http":
                result: HttpResult = wake.data["result"]
                return result

    def fetch_detached(
        self,
        call: Call,
        method: str,
        url: str,
        extra: dict[str, str],
        then: Callable[[HttpResult], None],
        *,
        media: bool = False,
    ) -> None:
        """Request a document nothing waits for; `then(result)` runs under the lock."""
        if self.engine.executor is None:
            then(self.fetch(call, method, url, extra, media=media))
            return
        form = {**self.call_params(call), **extra}

        def arrived(started: float, sent_to: str, result: HttpResult) -> None:
            self._log_webhook(call, method, form, started, sent_to, result, media=media)
            then(result)

        self._send_detached(method, url, form, "", arrived)

    def _send_detached(
        self,
        method: str,
        url: str,
        form: dict[str, str],
        token: str,
        arrived: Callable[[float, str, HttpResult], None],
    ) -> None:
        """Send on the executor; `arrived(started, url, result)` runs on the loop."""
        assert self.engine.executor is not None
        started = self.engine.now()
        with self.engine.flight_lock:
            self.engine.in_flight += 1
        future = self.engine.executor.submit(
            self._send_now, time.monotonic(), method, url, form, token
        )

        def done(future: Future[tuple[str, HttpResult]]) -> None:
            try:
                sent_to, result = future.result()
            except Exception as exc:  # a transport bug is the app's 11200
                sent_to = url
                result = HttpResult(0, error_code=HTTP_RETRIEVAL_FAILURE, error=repr(exc))
            self.engine.scheduler.call_soon(
                partial(arrived, started, sent_to, result), "http answer"
            )
            with self.engine.flight_lock:
                self.engine.in_flight -= 1

        future.add_done_callback(done)

    def _send_now(
        self, queued: float, method: str, url: str, form: dict[str, str], token: str
    ) -> tuple[str, HttpResult]:
        """On a pool thread: note how long the request waited for the thread, and send it."""
        self.engine.send_waits.append(time.monotonic() - queued)  # list.append is atomic
        return self.engine.webhooks.request(method, url, form, token)

    def fetching(self, call: Call) -> bool:
        return call.waiting is not None and call.waiting.channel.startswith(HTTP_CHANNEL)

    def send_callback(
        self, owner: Call | None, url: str, method: str, form: dict[str, str]
    ) -> None:
        """Deliver a status callback, with the scenario's duplicates and reordering."""
        faults = self.engine.config.scenario.callbacks
        url = resolve(self.engine.config.app_base_url, url)
        token = new_sid("ID")
        delay = self.engine.random.uniform(0.0, 2.0) if faults.reorder else 0.0
        copies = [delay]
        if faults.duplicate:
            copies.append(delay + self.engine.random.uniform(0.5, 3.0))
        for attempt, when in enumerate(copies):
            self.engine.scheduler.call_later(
                when, partial(self._post_callback, owner, url, method, form, token, attempt)
            )

    def _post_callback(
        self,
        owner: Call | None,
        url: str,
        method: str,
        form: dict[str, str],
        token: str,
        attempt: int,
    ) -> None:
        if self.engine.executor is not None:

            def arrived(started: float, sent_to: str, result: HttpResult) -> None:
                self._record_callback(owner, form, attempt, started, sent_to, result)

            self._send_detached(method, url, form, token, arrived)
            return
        started = self.engine.now()
        with self.engine.unlocked():
            sent_to, result = self.engine.webhooks.request(method, url, form, token=token)
        self._record_callback(owner, form, attempt, started, sent_to, result)

    def _record_callback(
        self,
        owner: Call | None,
        form: dict[str, str],
        attempt: int,
        started: float,
        sent_to: str,
        result: HttpResult,
    ) -> None:
        event = form.get("StatusCallbackEvent") or form.get("CallStatus", "")
        label = " (duplicate delivery)" if attempt else ""
        self.engine.log(
            owner,
            "callback",
            f"{event} -> {sent_to}: {result.status or result.error}{label}",
            url=sent_to,
            params=form,
            status=result.status,
            elapsed=result.elapsed,
            started=started,
        )
        if not result.ok:
            self.engine.log(
                owner,
                "error",
                f"status callback failed: {result.error}",
                code=result.error_code,
                url=sent_to,
            )

    def forge(self, forgery: Forgery, caller_party: str) -> None:
        """Send a webhook Twilio did not sign, as an attacker would, and record the answer.

        The application must refuse it (403) and change nothing; the timeline shows the
        status so a test, or a person reading it, can check.
        """
        leg = next((c for c in self.engine.calls.values() if c.party == caller_party), None)
        form = {**(self.call_params(leg) if leg else {}), **forgery.params}
        url = resolve(self.engine.config.app_base_url, forgery.path)
        # A token that is not the account's: a well-formed signature that cannot validate.
        signing_token = "" if forgery.signature == "missing" else "not-the-account-token"
        with self.engine.unlocked():
            sent_to, result = self.engine.webhooks.request(
                "POST", url, form, signing_token=signing_token
            )
        self.engine.log(
            leg,
            "forgery",
            f"forged webhook ({forgery.signature} signature) POST {sent_to} -> "
            f"{result.status or result.error}",
            url=sent_to,
            params=form,
            status=result.status,
        )
