"""What a participant hears outside the conversation: waitUrl and announceUrl documents."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from carrier_sim import twiml
from carrier_sim.model import Call, Participant
from carrier_sim.twiml import TwimlError, Verb
from carrier_sim.webhooks import HttpResult, resolve

if TYPE_CHECKING:
    from carrier_sim.engine import Engine


class Media:
    """Plays (and records) wait music and announcements to conference participants."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def wait_music(self, call: Call, participant: Participant) -> None:
        """Fetch and check what a waiting participant hears (the conference's waitUrl).

        As on Twilio, the document is played, its Redirect followed (or the waitUrl fetched
        again when it ends without one) for as long as the participant waits for the room
        to start. Each document is validated (only Say, Play, Pause and Redirect may run
        there); what is heard is recorded when it changes, so an application can show its
        callers never wait in silence, and what it tells them while they wait. A URL
        outside the application (Twilio's own hold music) is only recorded.
        """
        target = self.wait_target(participant.wait_url)
        if not target:
            self._heard(call, participant.wait_url or "silence")
            return
        self._fetch_wait(call, participant, target, "")

    def wait_target(self, url: str | None) -> str:
        """The absolute waitUrl to fetch, or "" when it is none or outside the application
        (Twilio's own hold music, only recorded)."""
        target = resolve(self.engine.config.app_base_url, url) if url else ""
        return (
            target if target.startswith(self.engine.config.app_base_url.rstrip("/") + "/") else ""
        )

    def _fetch_wait(self, call: Call, participant: Participant, url: str, before: str) -> None:
        heard = partial(self.play_wait, call, participant, url, before=before)
        self.engine.http.fetch_detached(call, "POST", url, {}, heard, media=True)

    def play_wait(
        self, call: Call, participant: Participant, url: str, result: HttpResult, before: str
    ) -> None:
        """Play one waitUrl document: its media, then its Redirect. As on Twilio, a document
        that ends without a Redirect is not fetched again: silence follows."""
        text, verbs = self._document_heard(call, url, result, "waitUrl")
        if text != before:
            self._heard(call, text)
        if not verbs:
            return  # silence until the room starts: nothing more is fetched
        redirect = next((v for v in verbs if v.name == "Redirect"), None)
        # Media up to the Redirect, at least a second: a document of only a Redirect
        # would otherwise loop without time passing.
        played = verbs[: verbs.index(redirect)] if redirect is not None else verbs
        lengths = [self.engine.verbs.media_seconds(v) for v in played]
        if None in lengths:
            return  # a loop="0": it plays until the room starts
        seconds = max(1.0, sum(x or 0.0 for x in lengths))
        following = resolve(url, redirect.text) if redirect is not None else ""
        self.engine.later(
            call, seconds, partial(self._still_waiting, call, participant, following, text)
        )

    def _still_waiting(self, call: Call, participant: Participant, url: str, heard: str) -> None:
        conference = self.engine.conferences.get(participant.conference_sid)
        if conference is None or conference.started:
            return
        if conference.participants.get(call.sid) is not participant:
            return
        if not url:
            self._heard(call, "silence (the waitUrl document ended without a Redirect)")
        elif not self.wait_target(url):
            self._heard(call, url)
        else:
            self._fetch_wait(call, participant, url, heard)

    def _heard(self, call: Call, heard: str) -> None:
        self.engine.log(call, "media", f"waits for the conference to start, hearing {heard}")

    def _document_heard(
        self, call: Call, url: str, result: HttpResult, what: str
    ) -> tuple[str, list[Verb]]:
        """What a waitUrl or announceUrl document makes a participant hear, checked, and its
        verbs (none when it failed or is invalid)."""
        verbs = self.media_document(call, url, result, what)
        if verbs is None:
            failed = "failed" if not result.ok else "document is invalid"
            return f"silence (the {what} {failed})", []
        return _spoken(verbs) or f"silence (an empty {what} document)", verbs

    def media_document(
        self, call: Call, url: str, result: HttpResult, what: str
    ) -> list[Verb] | None:
        """The verbs of a waitUrl or announceUrl document, or None (logged) when the request
        failed or the document is not one that may run there."""
        if not result.ok:
            self.engine.log(
                call, "error", f"{what} {url}: {result.error or result.status}", url=url
            )
            return None
        try:
            return twiml.parse(result.body, twiml.WAIT_URL_VERBS)
        except TwimlError as exc:
            self.engine.log(call, "error", f"{what} {url}: {exc.message}", code=exc.code, url=url)
            return None

    def announce(self, call: Call, url: str) -> None:
        """A participant's announceUrl: fetched after the REST update returns, as on Twilio.

        What it says is recorded (only Say, Play, Pause and Redirect may run there), so an
        application can show what the caller was told; a URL outside the application is
        only recorded.
        """
        target = resolve(self.engine.config.app_base_url, url)
        if not target.startswith(self.engine.config.app_base_url.rstrip("/") + "/"):
            self.engine.log(call, "media", f"hears an announcement from {url} (not fetched)")
            return

        def fetch() -> None:
            if call.ended:
                return

            def heard(result: HttpResult) -> None:
                text, _ = self._document_heard(call, target, result, "announceUrl")
                self.engine.log(call, "media", f"hears the announcement {text}")

            self.engine.http.fetch_detached(call, "POST", target, {}, heard, media=True)

        self.engine.soon(fetch, "announce")


def _spoken(verbs: list[Verb]) -> str:
    """What a Say/Play/Pause/Redirect document sounds like, for the timeline."""
    return ", then ".join(f'"{v.text}"' if v.name == "Say" else v.describe() for v in verbs)
