"""Transfer events carry no caller-identifying data and survive the JSON round trip."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain.events import Event, EventDataError, EventKind, MemorySink

AT = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)


def event(**data: object) -> Event:
    return Event("tr_7f3a", EventKind.ROUTED, "tr_7f3a:routed", AT, data)  # type: ignore[arg-type]


def test_an_event_round_trips_through_json() -> None:
    original = event(county_fips="20209", center_id="kc-kansas", ambiguous=False, share=0.57)
    assert Event.from_json(original.to_json()) == original


@pytest.mark.parametrize(
    "value",
    ["+18165550123", "8165550123", "(816) 555-0123", "816-555-0123", "caller +18165550123"],
)
def test_a_phone_number_in_event_data_is_refused(value: str) -> None:
    with pytest.raises(EventDataError, match="phone number"):
        event(note=value)


@pytest.mark.parametrize("name", ["lat", "lon", "latitude", "longitude"])
def test_coordinates_in_event_data_are_refused(name: str) -> None:
    with pytest.raises(EventDataError, match="county only"):
        event(**{name: 39.1})


def test_a_precise_coordinate_in_text_is_refused() -> None:
    with pytest.raises(EventDataError, match="precise coordinate"):
        event(note="at 39.11412,-94.62751")


def test_twilio_sids_and_county_codes_are_allowed() -> None:
    sid = "CA1234567890abcdef1234567890abcdef"
    assert event(call_sid=sid, county_fips="29095").data["call_sid"] == sid


def test_nested_values_are_refused() -> None:
    with pytest.raises(EventDataError, match="not a scalar"):
        event(candidates=[{"center_id": "kc-kansas"}])


def test_a_malformed_payload_is_a_clear_error() -> None:
    with pytest.raises(EventDataError, match="malformed"):
        Event.from_json('{"kind": "nonsense"}')


def test_the_memory_sink_keeps_events_in_order() -> None:
    sink = MemorySink()
    sink.emit(event())
    sink.emit(Event("tr_7f3a", EventKind.ENDED, "tr_7f3a:ended", AT))
    assert sink.kinds("tr_7f3a") == [EventKind.ROUTED, EventKind.ENDED]
