"""Parse and validate TwiML voice documents the way Twilio does before running them.

Every verb and attribute is checked against a table. Three outcomes are errors, never
silently ignored: malformed XML (12100), TwiML that Twilio itself rejects (12200), and
valid TwiML this simulator does not play (also 12200, with a message saying so), so a test
never passes against behaviour the simulator did not really model.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import ElementTree as SafeET

from carrier_sim.model import CALL_EVENTS, CONFERENCE_EVENTS

DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_VALIDATION = 12200


class TwimlError(Exception):
    """A document Twilio (or this simulator) cannot execute.

    Attributes:
        code: Twilio's error code (12100 parse failure, 12200 schema validation).
        message: what is wrong, for the timeline.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Spec:
    """What one element may carry.

    Attributes:
        attrs: attributes the simulator plays.
        unsimulated: attributes Twilio accepts that the simulator does not play.
        children: element names allowed inside.
        text: whether the element carries text (a number, a URL, words to say).
    """

    attrs: frozenset[str]
    unsimulated: frozenset[str] = frozenset()
    children: frozenset[str] = frozenset()
    text: bool = False


def _spec(attrs: str, unsimulated: str = "", children: str = "", text: bool = False) -> Spec:
    return Spec(
        frozenset(attrs.split()),
        frozenset(unsimulated.split()),
        frozenset(children.split()),
        text,
    )


SPECS: dict[str, Spec] = {
    "Say": _spec("voice language loop", text=True),
    "Play": _spec("loop", "digits", text=True),
    "Pause": _spec("length"),
    "Gather": _spec(
        "action method timeout finishOnKey numDigits input actionOnEmptyResult",
        "speechTimeout hints language partialResultCallback partialResultCallbackMethod "
        "profanityFilter speechModel enhanced bargeIn debug maxSpeechTime",
        "Say Play Pause",
    ),
    "Dial": _spec(
        "action method timeout callerId hangupOnStar timeLimit",
        "record recordingStatusCallback recordingStatusCallbackMethod "
        "recordingStatusCallbackEvent recordingTrack trim answerOnBridge ringTone sequential "
        "referUrl referMethod events",
        "Number Conference",
        text=True,
    ),
    "Number": _spec(
        "url method statusCallback statusCallbackEvent statusCallbackMethod machineDetection",
        "sendDigits byoc machineDetectionTimeout machineDetectionSpeechThreshold "
        "machineDetectionSpeechEndThreshold machineDetectionSilenceTimeout amdStatusCallback "
        "amdStatusCallbackMethod",
        text=True,
    ),
    "Conference": _spec(
        "startConferenceOnEnter endConferenceOnExit waitUrl waitMethod statusCallback "
        "statusCallbackEvent statusCallbackMethod beep muted maxParticipants participantLabel",
        "record region trim coach jitterBufferSize eventCallbackUrl recordingStatusCallback "
        "recordingStatusCallbackMethod recordingStatusCallbackEvent",
        text=True,
    ),
    "Redirect": _spec("method", text=True),
    "Hangup": _spec(""),
    "Reject": _spec("reason"),
}
VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Dial", "Redirect", "Hangup", "Reject"})
# Valid Twilio voice TwiML that this simulator does not play: reported, never skipped.
UNSIMULATED_ELEMENTS = frozenset(
    {
        *("Record", "Enqueue", "Leave", "Connect", "Start", "Stop", "Stream", "Pay"),
        *("Prompt", "Refer", "Sms", "Message", "Echo", "Queue", "Client", "Sip", "Sim"),
        *("Application", "WhatsApp", "Parameter", "Siprec", "Transcription", "Conversation"),
    }
)
# What may run where: a whisper (<Number url>) and a conference waitUrl are restricted.
WHISPER_VERBS = frozenset({"Say", "Play", "Pause", "Gather", "Hangup", "Redirect"})
WAIT_URL_VERBS = frozenset({"Say", "Play", "Pause", "Redirect"})

_BOOL = frozenset({"true", "false"})
_METHODS = frozenset({"GET", "POST"})
_CHOICES: dict[tuple[str, str], frozenset[str]] = {
    ("Conference", "beep"): frozenset({"true", "false", "onEnter", "onExit"}),
    ("Reject", "reason"): frozenset({"rejected", "busy"}),
    ("Gather", "input"): frozenset({"dtmf"}),
    ("Number", "machineDetection"): frozenset({"Enable", "DetectMessageEnd"}),
}
_BOOLEANS = frozenset(
    {"hangupOnStar", "startConferenceOnEnter", "endConferenceOnExit", "muted"}
    | {"actionOnEmptyResult"}
)
_INTEGERS: dict[str, tuple[int, int]] = {
    "loop": (0, 1000),
    "length": (0, 3600),
    "timeout": (1, 600),
    "numDigits": (1, 100),
    "timeLimit": (1, 14400),
    "maxParticipants": (2, 250),
}


@dataclass
class Verb:
    """One TwiML element with its attributes, text and children."""

    name: str
    attrs: dict[str, str]
    text: str = ""
    children: list[Verb] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        """An attribute's value, or `default` when absent."""
        return self.attrs.get(name, default)

    def flag(self, name: str, default: bool) -> bool:
        """A boolean attribute."""
        return self.attrs[name] == "true" if name in self.attrs else default

    def number(self, name: str, default: float) -> float:
        """A numeric attribute."""
        return float(self.attrs[name]) if name in self.attrs else default

    def describe(self) -> str:
        """A one-line rendering for the timeline."""
        attrs = "".join(f' {key}="{value}"' for key, value in self.attrs.items())
        text = f" {self.text!r}" if self.text else ""
        return f"<{self.name}{attrs}>{text}"


def parse(document: str, allowed: frozenset[str] = VERBS) -> list[Verb]:
    """Parse a TwiML document into its verbs, validating everything first.

    Args:
        document: the response body.
        allowed: the verbs that may appear at the top level in this context.

    Returns:
        The verbs of the <Response>, in order.

    Raises:
        TwimlError: 12100 if the XML is malformed, 12200 if the TwiML is invalid or uses
            something the simulator does not play.
    """
    try:
        root = SafeET.fromstring(document)
    except (ET.ParseError, ValueError) as exc:
        raise TwimlError(DOCUMENT_PARSE_FAILURE, f"document parse failure: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(SCHEMA_VALIDATION, f"root element must be <Response>, not <{root.tag}>")
    if root.attrib:
        raise TwimlError(SCHEMA_VALIDATION, "<Response> takes no attributes")
    return [_element(child, allowed, "Response") for child in root]


def _element(node: ET.Element, allowed: frozenset[str], parent: str) -> Verb:
    name = node.tag
    if name in UNSIMULATED_ELEMENTS:
        raise TwimlError(SCHEMA_VALIDATION, f"<{name}> is valid TwiML but is not simulated")
    if name not in SPECS or name not in allowed:
        raise TwimlError(SCHEMA_VALIDATION, f"<{name}> is not allowed inside <{parent}>")
    spec = SPECS[name]
    for attr, value in node.attrib.items():
        _check_attribute(name, spec, attr, value)
    text = (node.text or "").strip()
    if text and not spec.text:
        raise TwimlError(SCHEMA_VALIDATION, f"<{name}> takes no text")
    children = [_element(child, spec.children, name) for child in node]
    verb = Verb(name, dict(node.attrib), text, children)
    _check_shape(verb)
    return verb


def _check_attribute(element: str, spec: Spec, attr: str, value: str) -> None:
    if attr in spec.unsimulated:
        raise TwimlError(
            SCHEMA_VALIDATION, f"attribute {attr} of <{element}> is valid but not simulated"
        )
    if attr not in spec.attrs:
        raise TwimlError(SCHEMA_VALIDATION, f"<{element}> has no attribute {attr}")
    problem = _value_problem(element, attr, value)
    if problem:
        raise TwimlError(SCHEMA_VALIDATION, f'<{element} {attr}="{value}">: {problem}')


def _value_problem(element: str, attr: str, value: str) -> str:
    """Why `value` is not valid for `attr`, or "" if it is."""
    choices = _CHOICES.get((element, attr))
    if choices is not None and value not in choices:
        return f"must be one of {sorted(choices)}"
    if attr in _BOOLEANS and value not in _BOOL:
        return "must be true or false"
    if attr.endswith("ethod") and value.upper() not in _METHODS:
        return "must be GET or POST"
    if attr in _INTEGERS:
        low, high = _INTEGERS[attr]
        if not value.isdigit() or not low <= int(value) <= high:
            return f"must be an integer from {low} to {high}"
    if attr == "finishOnKey" and (len(value) > 1 or (value and value not in "0123456789#*")):
        return "must be one key of 0-9, # or *, or empty"
    if attr == "statusCallbackEvent":
        known = CONFERENCE_EVENTS if element == "Conference" else CALL_EVENTS
        unknown = set(value.replace(",", " ").split()) - known
        if unknown:
            return f"unknown events {sorted(unknown)}"
    return ""


def _check_shape(verb: Verb) -> None:
    """Rules about content that the attribute table cannot express."""
    if verb.name == "Redirect" and not verb.text:
        raise TwimlError(SCHEMA_VALIDATION, "<Redirect> needs a URL")
    if verb.name in {"Number", "Conference"} and not verb.text:
        raise TwimlError(SCHEMA_VALIDATION, f"<{verb.name}> needs text")
    if verb.name == "Dial":
        nouns = len(verb.children) + (1 if verb.text else 0)
        if nouns == 0:
            raise TwimlError(SCHEMA_VALIDATION, "<Dial> needs a number or a noun")
        if nouns > 1:
            raise TwimlError(
                SCHEMA_VALIDATION,
                "<Dial> with several nouns (simultaneous dialing) is not simulated",
            )


def events(value: str) -> frozenset[str]:
    """Split a statusCallbackEvent value (spaces or commas) into a set."""
    return frozenset(value.replace(",", " ").split())
