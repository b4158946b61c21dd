"""Call-flow settings that `gateway/settings.py` does not (yet) hold.

They are read from the environment once, by `FlowConfig.from_env`, with the same rule as the
main settings: a bad value stops the gateway at start with a message naming the variable.

    GATEWAY_PHONE_NUMBER   the Twilio number PSAPs conference callers to (E.164); it is also
                           the caller ID of every call the gateway places.
    PSAP_API_KEYS          "psap-id:key,psap-id:key": which API key speaks for which PSAP
                           (or PSAP_API_KEYS_FILE, a file holding that text).
    CENTER_API_KEYS        "center-id:key,center-id:key": which API key speaks for which
                           988 center, for POST /api/v1/transfers/<id>/escalate
                           (or CENTER_API_KEYS_FILE).
    PENDING_WINDOW_S       how long a registered transfer waits for its call (default 300).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gateway.settings import SettingsError

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DEFAULT_GATEWAY_NUMBER = "+19135550150"


def parse_api_keys(text: str, variable: str) -> dict[str, str]:
    """Parse "owner:key,owner:key" into {key: owner}.

    Raises:
        SettingsError: an entry without both parts, a key shorter than 16 characters, or a
            key given twice (it could not say which owner it speaks for).
    """
    keys: dict[str, str] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        owner, _, key = entry.partition(":")
        owner, key = owner.strip(), key.strip()
        if not owner or not key:
            raise SettingsError(f"{variable}: {owner or '?'}: expected 'id:key'")
        if len(key) < 16:
            raise SettingsError(f"{variable}: {owner}: the key is shorter than 16 characters")
        if key in keys:
            raise SettingsError(f"{variable}: {owner}: the same key is given twice")
        keys[key] = owner
    return keys


def _secret(env: Mapping[str, str], name: str) -> str:
    """NAME, or the contents of the file named by NAME_FILE (mounted secrets)."""
    file_name = env.get(f"{name}_FILE")
    if not file_name:
        return env.get(name, "")
    try:
        return Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(f"{name}_FILE={file_name}: cannot read it ({exc})") from None


@dataclass(frozen=True)
class FlowConfig:
    """Settings of the transfer call flow.

    Attributes:
        gateway_number: the number PSAPs conference callers to; caller ID of outbound legs.
        psap_api_keys: API key -> PSAP id.
        pending_window_s: how long a registered transfer may wait for its call.
        center_api_keys: API key -> 988 center id (escalation requests).
    """

    gateway_number: str = DEFAULT_GATEWAY_NUMBER
    psap_api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    pending_window_s: int = 300
    center_api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not _E164.match(self.gateway_number):
            raise SettingsError(f"GATEWAY_PHONE_NUMBER={self.gateway_number!r}: not E.164")
        shared = set(self.psap_api_keys) & set(self.center_api_keys)
        if shared:
            # One key speaking for a PSAP and a center could not say which one asks.
            owners = sorted(self.center_api_keys[key] for key in shared)
            raise SettingsError(f"CENTER_API_KEYS: {', '.join(owners)}: key also a PSAP key")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FlowConfig:
        """Read the call-flow settings from the environment (see the module docstring)."""
        env = os.environ if env is None else env
        window = env.get("PENDING_WINDOW_S", "300").strip()
        if not window.isdigit() or not 30 <= int(window) <= 3600:
            raise SettingsError(f"PENDING_WINDOW_S={window!r}: seconds from 30 to 3600")
        return cls(
            gateway_number=env.get("GATEWAY_PHONE_NUMBER", DEFAULT_GATEWAY_NUMBER).strip(),
            psap_api_keys=parse_api_keys(_secret(env, "PSAP_API_KEYS"), "PSAP_API_KEYS"),
            pending_window_s=int(window),
            center_api_keys=parse_api_keys(_secret(env, "CENTER_API_KEYS"), "CENTER_API_KEYS"),
        )
