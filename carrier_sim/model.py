"""The simulated carrier's records: calls (legs), conferences and their participants.

Field names follow Twilio's REST resources so the JSON views in `rest.py` stay thin.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

ENDED_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
CONFERENCE_EVENTS = frozenset(
    {"start", "end", "join", "leave", "mute", "hold", "modify", "speaker", "announcement"}
)
# E.164 with a North American number checked the way the NANP numbers them (NXX-NXX).
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_NANP = re.compile(r"^\+1[2-9]\d{2}[2-9]\d{6}$")


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def valid_address(value: str) -> bool:
    """True if Twilio would accept `value` as a To/From: E.164 (NANP-checked) or sip:."""
    if value.startswith("sip:"):
        return "@" in value
    if not _E164.match(value):
        return False
    return not value.startswith("+1") or bool(_NANP.match(value))


@dataclass
class Wait:
    """What a call's TwiML program waits for.

    Attributes:
        seconds: wake with a "timeout" after this long; None waits for a signal.
        digits: wake on each DTMF key the party presses.
        doing: a few words for the timeline ("gathering", "in conference room-1").
        channel: signals addressed to this channel wake the program (a <Dial> waits on
            its callee's call SID, a conference member on the conference SID).
    """

    seconds: float | None
    digits: bool = False
    doing: str = ""
    channel: str = ""


@dataclass
class Wake:
    """Why a waiting program resumes: "timeout", "digit" (key) or a named signal."""

    kind: str
    key: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Program = Generator[Wait, Wake, None]


@dataclass
class Call:
    """One call leg, inbound or outbound, as the Calls resource describes it."""

    sid: str
    account_sid: str
    from_: str
    to: str
    direction: str  # inbound | outbound-api | outbound-dial
    party: str
    created_at: float
    status: str = "queued"
    parent_sid: str | None = None
    started_at: float | None = None  # when it was dialed (started ringing)
    answered_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    end_reason: str = ""
    url: str | None = None
    method: str = "POST"
    twiml: str | None = None
    fallback_url: str | None = None
    fallback_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset({"completed"})
    timeout: float = 60.0
    machine_detection: str | None = None
    answered_by: str | None = None
    sip_headers: dict[str, str] = field(default_factory=dict)
    human: bool = True
    # Runtime state of the TwiML program.
    program: Program | None = None
    waiting: Wait | None = None
    wait_token: int = 0
    running: bool = False
    bridged_with: str | None = None
    callback_seq: int = 0

    @property
    def ended(self) -> bool:
        """True once the leg reached a final status."""
        return self.status in ENDED_STATUSES

    @property
    def live(self) -> bool:
        """True while the leg is answered and not ended."""
        return self.status == "in-progress"


@dataclass
class Participant:
    """A call's membership in a conference."""

    call_sid: str
    conference_sid: str
    label: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    muted: bool = False
    hold: bool = False
    beep: str = "true"
    wait_url: str | None = None
    status: str = "queued"  # queued | connecting | ringing | connected | complete | failed
    via_api: bool = False
    joined_at: float | None = None
    date_created: float = 0.0
    date_updated: float = 0.0


@dataclass
class Conference:
    """A conference room; its status goes init -> in-progress -> completed."""

    sid: str
    account_sid: str
    friendly_name: str
    created_at: float
    updated_at: float
    status: str = "init"
    participants: dict[str, Participant] = field(default_factory=dict)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: frozenset[str] = frozenset()
    callback_seq: int = 0
    reason_ended: str | None = None
    call_sid_ending: str | None = None
    max_participants: int = 250

    @property
    def started(self) -> bool:
        """True once audio is mixed (a startConferenceOnEnter participant joined)."""
        return self.status == "in-progress"
