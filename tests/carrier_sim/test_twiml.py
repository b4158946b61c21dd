"""TwiML validation: what Twilio rejects, and what the simulator refuses to fake."""

from __future__ import annotations

import pytest

from carrier_sim.twiml import WHISPER_VERBS, TwimlError, parse


def _code(document: str, allowed: frozenset[str] | None = None) -> int:
    with pytest.raises(TwimlError) as raised:
        parse(document) if allowed is None else parse(document, allowed)
    return raised.value.code


def test_a_valid_document_parses_into_verbs_with_their_nouns() -> None:
    (dial,) = parse(
        '<Response><Dial timeout="20"><Conference beep="false">room</Conference></Dial></Response>'
    )

    assert (dial.name, dial.get("timeout")) == ("Dial", "20")
    assert (dial.children[0].name, dial.children[0].text) == ("Conference", "room")


@pytest.mark.parametrize("document", ["<Response><Say>open", "not xml", ""])
def test_malformed_xml_is_a_document_parse_failure(document: str) -> None:
    assert _code(document) == 12100


@pytest.mark.parametrize(
    "document",
    [
        "<Reply/>",
        "<Response><Talk/></Response>",
        '<Response><Gather numDigits="zero"/></Response>',
        '<Response><Gather finishOnKey="ab"/></Response>',
        '<Response><Dial hangupOnStar="yes">+17855550160</Dial></Response>',
        '<Response><Dial><Conference statusCallbackEvent="begin">r</Conference></Dial></Response>',
        "<Response><Dial/></Response>",
        "<Response><Redirect/></Response>",
        "<Response><Gather><Dial>+17855550160</Dial></Gather></Response>",
    ],
)
def test_invalid_twiml_is_a_schema_validation_error(document: str) -> None:
    assert _code(document) == 12200


@pytest.mark.parametrize(
    "document",
    [
        "<Response><Record/></Response>",
        '<Response><Gather input="speech"/></Response>',
        "<Response><Dial><Number>+17855550160</Number><Number>+17855550161</Number></Dial></Response>",
        '<Response><Dial><Conference coach="CA1">r</Conference></Dial></Response>',
    ],
)
def test_valid_twiml_the_simulator_does_not_play_is_refused_not_ignored(document: str) -> None:
    with pytest.raises(TwimlError, match=r"not simulated|must be one of"):
        parse(document)


def test_a_whisper_may_not_dial() -> None:
    assert _code("<Response><Dial>+17855550160</Dial></Response>", WHISPER_VERBS) == 12200
