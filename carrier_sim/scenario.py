"""Scenario files: who calls, how each destination line behaves, what the parties do.

A scenario is YAML. Everything is checked when it is loaded, so a typo fails loudly
instead of quietly changing the call. See docs/simulator.md for the full format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from carrier_sim.model import CALL_EVENTS, valid_address

OUTCOMES = frozenset(
    {"answer", "silent", "busy", "failed", "no-answer", "decline", "voicemail", "fax"}
)
# Outcomes where something picks up the line.
ANSWERED = frozenset({"answer", "silent", "voicemail", "fax"})
# Outcomes where a person picks up (and may press keys or hang up).
PERSON = frozenset({"answer", "silent"})
# When a line gives its verdict, in seconds after it is dialed.
DEFAULT_AFTER = {
    "busy": 1.0,
    "failed": 0.5,
    "decline": 4.0,
    "voicemail": 12.0,
    "fax": 3.0,
    "answer": 3.0,
    "silent": 3.0,
}


class ScenarioError(ValueError):
    """The scenario file is not valid."""


@dataclass(frozen=True)
class Action:
    """Something a party does: press keys or hang up, `at` seconds into its call."""

    at: float
    press: str = ""
    hangup: bool = False


@dataclass(frozen=True)
class Attempt:
    """How a line behaves the nth time it is dialed.

    Attributes:
        outcome: answer, silent (a person who picks up and says nothing), busy, failed,
            no-answer, decline, voicemail or fax.
        after: seconds after ringing starts when the outcome happens.
        actions: what the person does, timed from the moment they answer.
    """

    outcome: str
    after: float
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Line:
    """A destination number and its behaviour per attempt (the last one repeats)."""

    number: str
    name: str
    attempts: tuple[Attempt, ...]

    def attempt(self, index: int) -> Attempt:
        """Behaviour for the `index`th dial of this line (0-based)."""
        return self.attempts[min(index, len(self.attempts) - 1)]


@dataclass(frozen=True)
class Caller:
    """The inbound call: a PSAP line calling the application's number."""

    from_: str
    to: str
    name: str = "caller"
    at: float = 0.0
    sip_headers: dict[str, str] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    """How the carrier reaches the application: the number's voice configuration."""

    voice_url: str = "/voice"
    method: str = "POST"
    fallback_url: str | None = None
    status_callback: str | None = None
    status_callback_events: frozenset[str] = frozenset({"completed"})


@dataclass(frozen=True)
class Callbacks:
    """Faults in status-callback delivery (Twilio delivers at least once, in any order)."""

    duplicate: bool = False
    reorder: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Forgery:
    """A webhook someone other than Twilio sends to the application, to test it is refused.

    Attributes:
        at: seconds into the run.
        path: the application's path it is sent to, e.g. /voice/status.
        signature: "wrong" (signed with another token) or "missing" (no header at all).
        params: webhook parameters laid over the caller's leg's own (its CallSid, From...),
            e.g. {CallStatus: completed} to try to end the call.
    """

    at: float
    path: str
    signature: str = "wrong"
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A whole scripted run."""

    name: str
    caller: Caller
    lines: tuple[Line, ...] = ()
    app: AppConfig = AppConfig()
    callbacks: Callbacks = Callbacks()
    forgeries: tuple[Forgery, ...] = ()
    max_duration: float = 900.0
    play_seconds: float = 10.0
    description: str = ""

    def line(self, number: str) -> Line | None:
        """The scripted line for `number`, if the scenario has one."""
        return next((line for line in self.lines if line.number == number), None)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Raises:
        ScenarioError: if the file is not a valid scenario.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from exc
    return scenario_from_dict(data, str(path))


def scenario_from_dict(data: Any, where: str = "scenario") -> Scenario:
    """Build a Scenario from parsed YAML (or a dict written in a test)."""
    top = _mapping(data, where)
    _known(
        top,
        where,
        "name description caller lines app callbacks forgeries max_duration play_seconds",
    )
    return Scenario(
        name=str(top.get("name", where)),
        description=str(top.get("description", "")),
        caller=_caller(top.get("caller"), f"{where}.caller"),
        lines=tuple(
            _line(item, f"{where}.lines[{i}]") for i, item in enumerate(top.get("lines") or [])
        ),
        app=_app(top.get("app") or {}, f"{where}.app"),
        callbacks=_callbacks(top.get("callbacks") or {}, f"{where}.callbacks"),
        forgeries=tuple(
            _forgery(item, f"{where}.forgeries[{i}]")
            for i, item in enumerate(top.get("forgeries") or [])
        ),
        max_duration=_seconds(top.get("max_duration", 900), f"{where}.max_duration"),
        play_seconds=_seconds(top.get("play_seconds", 10), f"{where}.play_seconds"),
    )


def _caller(data: Any, where: str) -> Caller:
    item = _mapping(data, where)
    _known(item, where, "name from to at sip_headers actions")
    headers = {str(k): str(v) for k, v in _mapping(item.get("sip_headers") or {}, where).items()}
    bad = [name for name in headers if not name.startswith("X-")]
    if bad:
        # Twilio passes only X- headers to the webhook; anything else would be fiction.
        raise ScenarioError(f"{where}.sip_headers: only X- headers reach Twilio webhooks: {bad}")
    return Caller(
        from_=_address(item.get("from"), f"{where}.from"),
        to=_address(item.get("to"), f"{where}.to"),
        name=str(item.get("name", "caller")),
        at=_seconds(item.get("at", 0), f"{where}.at"),
        sip_headers=headers,
        actions=_actions(item.get("actions") or [], f"{where}.actions"),
    )


def _line(data: Any, where: str) -> Line:
    item = _mapping(data, where)
    _known(item, where, "number name attempts outcome after answer actions")
    number = _address(item.get("number"), f"{where}.number")
    if "attempts" in item:
        raw = item["attempts"]
        if not isinstance(raw, list) or not raw:
            raise ScenarioError(f"{where}.attempts: a non-empty list is needed")
        attempts = tuple(_attempt(a, f"{where}.attempts[{i}]") for i, a in enumerate(raw))
    else:
        single = {k: v for k, v in item.items() if k in {"outcome", "after", "answer", "actions"}}
        attempts = (_attempt(single, where),)
    return Line(number=number, name=str(item.get("name", number)), attempts=attempts)


def _attempt(data: Any, where: str) -> Attempt:
    if isinstance(data, str):
        data = {"outcome": data}
    item = _mapping(data, where)
    _known(item, where, "outcome after answer actions")
    outcome = str(item.get("outcome", "answer"))
    if "answer" in item:
        outcome, item = "answer", {**item, "after": item["answer"]}
    if outcome not in OUTCOMES:
        raise ScenarioError(f"{where}.outcome: {outcome!r} is not one of {sorted(OUTCOMES)}")
    after = _seconds(item.get("after", DEFAULT_AFTER.get(outcome, 0.0)), f"{where}.after")
    actions = _actions(item.get("actions") or [], f"{where}.actions")
    if actions and outcome not in PERSON:
        raise ScenarioError(f"{where}.actions: only a person who answers can act")
    return Attempt(outcome=outcome, after=after, actions=actions)


def _actions(data: Any, where: str) -> tuple[Action, ...]:
    if not isinstance(data, list):
        raise ScenarioError(f"{where}: a list is needed")
    actions = []
    for i, raw in enumerate(data):
        item = _mapping(raw, f"{where}[{i}]")
        _known(item, f"{where}[{i}]", "at press hangup")
        press = str(item.get("press", ""))
        if any(key not in "0123456789*#" for key in press):
            raise ScenarioError(f"{where}[{i}].press: keys are 0-9, * and #")
        hangup = item.get("hangup", False) is True
        if bool(press) == hangup:
            raise ScenarioError(f"{where}[{i}]: give exactly one of press or hangup: true")
        actions.append(Action(_seconds(item.get("at"), f"{where}[{i}].at"), press, hangup))
    return tuple(sorted(actions, key=lambda action: action.at))


def _app(data: Any, where: str) -> AppConfig:
    item = _mapping(data, where)
    _known(item, where, "voice_url method fallback_url status_callback status_callback_events")
    events = frozenset(str(e) for e in item.get("status_callback_events", ["completed"]))
    if not events <= CALL_EVENTS:
        raise ScenarioError(
            f"{where}.status_callback_events: unknown {sorted(events - CALL_EVENTS)}"
        )
    method = str(item.get("method", "POST")).upper()
    if method not in {"GET", "POST"}:
        raise ScenarioError(f"{where}.method: GET or POST")
    return AppConfig(
        voice_url=str(item.get("voice_url", "/voice")),
        method=method,
        fallback_url=_optional(item.get("fallback_url")),
        status_callback=_optional(item.get("status_callback")),
        status_callback_events=events,
    )


def _callbacks(data: Any, where: str) -> Callbacks:
    item = _mapping(data, where)
    _known(item, where, "duplicate reorder seed")
    return Callbacks(
        duplicate=item.get("duplicate", False) is True,
        reorder=item.get("reorder", False) is True,
        seed=int(item.get("seed", 0)),
    )


def _forgery(data: Any, where: str) -> Forgery:
    item = _mapping(data, where)
    _known(item, where, "at path signature params")
    path = item.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ScenarioError(f"{where}.path: an application path such as /voice/status")
    signature = str(item.get("signature", "wrong"))
    if signature not in {"wrong", "missing"}:
        raise ScenarioError(f"{where}.signature: wrong or missing")
    params = {str(k): str(v) for k, v in _mapping(item.get("params") or {}, where).items()}
    return Forgery(_seconds(item.get("at", 0), f"{where}.at"), path, signature, params)


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a mapping is needed")
    return data


def _known(item: dict[str, Any], where: str, names: str) -> None:
    unknown = set(item) - set(names.split())
    if unknown:
        raise ScenarioError(f"{where}: unknown keys {sorted(unknown)}")


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not valid_address(value):
        raise ScenarioError(f"{where}: {value!r} is not an E.164 number or sip: address")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ScenarioError(f"{where}: a number of seconds (>= 0) is needed")
    return float(value)


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)
