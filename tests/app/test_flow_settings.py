"""Call-flow settings refuse bad values at start-up, naming the variable."""

from __future__ import annotations

import pytest

from gateway.settings import FlowConfig, Settings, SettingsError


def test_psap_api_keys_map_each_key_to_its_psap() -> None:
    flow = FlowConfig.from_env(
        {"PSAP_API_KEYS": "wyandotte-911:key-aaaaaaaaaaaaaaaa, douglas-911:key-bbbbbbbbbbbbbbbb"}
    )

    assert flow.psap_api_keys == {
        "key-aaaaaaaaaaaaaaaa": "wyandotte-911",
        "key-bbbbbbbbbbbbbbbb": "douglas-911",
    }


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PSAP_API_KEYS": "wyandotte-911"}, "expected 'id:key'"),
        ({"PSAP_API_KEYS": "wyandotte-911:short"}, "shorter than 16"),
        ({"PSAP_API_KEYS": "a:key-aaaaaaaaaaaaaaaa,b:key-aaaaaaaaaaaaaaaa"}, "given twice"),
        ({"GATEWAY_PHONE_NUMBER": "913-555-0150"}, "GATEWAY_PHONE_NUMBER"),
        ({"PENDING_WINDOW_S": "5"}, "PENDING_WINDOW_S"),
        ({"PSAP_API_KEYS_FILE": "/nonexistent/keys"}, "PSAP_API_KEYS_FILE"),
    ],
)
def test_a_bad_call_flow_setting_stops_the_gateway_with_its_name(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        FlowConfig.from_env(env)


def test_center_api_keys_map_each_key_to_its_center_and_may_not_be_psap_keys() -> None:
    flow = FlowConfig.from_env({"CENTER_API_KEYS": "kc-kansas:key-cccccccccccccccc"})

    assert flow.center_api_keys == {"key-cccccccccccccccc": "kc-kansas"}
    with pytest.raises(SettingsError, match="CENTER_API_KEYS: kc-kansas"):
        FlowConfig.from_env(
            {
                "PSAP_API_KEYS": "wyandotte-911:key-cccccccccccccccc",
                "CENTER_API_KEYS": "kc-kansas:key-cccccccccccccccc",
            }
        )


def test_the_call_flow_settings_are_read_with_the_rest_at_start_up() -> None:
    settings = Settings.from_env({"TWILIO_AUTH_TOKEN": "t", "GATEWAY_PHONE_NUMBER": "+19135550155"})

    assert settings.flow.gateway_number == "+19135550155"
    with pytest.raises(SettingsError, match="PENDING_WINDOW_S"):
        Settings.from_env({"PENDING_WINDOW_S": "5"})
