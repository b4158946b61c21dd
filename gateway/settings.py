"""Typed settings, read from the environment once, at start-up.

Each helper refuses a bad value with a message naming the variable, so a misconfigured
gateway stops at start instead of misrouting a caller later. A secret may come from a file
named by NAME_FILE (the usual way to mount secrets), instead of NAME itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLES_DIR = PROJECT_ROOT / "config" / "tables"


class SettingsError(ValueError):
    """A setting with a value the gateway cannot run with."""


def _text(env: Mapping[str, str], name: str, default: str = "") -> str:
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"{name}_FILE={file_name}: cannot read it ({exc})") from None
    return env.get(name, default).strip()


def _path(env: Mapping[str, str], name: str, default: Path | None) -> Path | None:
    value = _text(env, name)
    if not value:
        return default
    path = Path(value)
    if not path.exists():
        raise SettingsError(f"{name}={value}: no such file or directory")
    return path


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _text(env, name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: not a whole number") from None
    if not low <= number <= high:
        raise SettingsError(f"{name}={number}: must be between {low} and {high}")
    return number


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _text(env, name) or default
    if value and not value.startswith(tuple(f"{s}://" for s in schemes)):
        raise SettingsError(f"{name}={value!r}: must start with {' or '.join(schemes)}://")
    return value.rstrip("/") if name.endswith("BASE_URL") else value


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    value = _text(env, name)
    paths = tuple(Path(p) for p in value.split(os.pathsep) if p)
    for path in paths:
        if not path.exists():
            raise SettingsError(f"{name}: {path}: no such file")
    return paths


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build it with `Settings.from_env()`; tests pass their own.

    Attributes:
        tables_dir: directory of routing tables (centers, catchments, PSAPs, partnerships).
        county_layer: GeoJSON county layer replacing the shipped one; None: shipped layer.
        extra_county_layers: GeoJSON layers whose counties replace shipped ones by FIPS.
    """

    tables_dir: Path = DEFAULT_TABLES_DIR
    county_layer: Path | None = None
    extra_county_layers: tuple[Path, ...] = field(default=())
    # Twilio: real Twilio by default; the carrier simulator when api_base_url is set.
    twilio_account_sid: str = ""
    twilio_auth_token: str = field(default="", repr=False)
    twilio_api_base_url: str = ""
    # The URL Twilio reaches this gateway at (webhook URLs are built from it).
    public_base_url: str = "http://127.0.0.1:8000"
    redis_url: str = "redis://127.0.0.1:6379/0"
    database_url: str = "sqlite:///var/gateway.sqlite3"
    # Privacy: the keyed hash links repeat callers without storing their number; the
    # encryption key, when set, lets the store keep an encrypted copy for the data-sharing
    # partner and encrypts the free-text summary at rest.
    caller_hash_key: str = field(default="", repr=False)
    encryption_key: str = field(default="", repr=False)
    retention_days: int = 90
    coordinate_decimals: int = -1  # -1: keep only the county; 0..3: rounded coordinates
    analyst_api_keys: tuple[str, ...] = field(default=(), repr=False)
    transfer_deadline_s: int = 90
    # Threads per web process for the REST requests a webhook sends after answering
    # (gateway.afterwards); 0 sends them from the worker itself once it has answered.
    after_response_threads: int = 4

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            tables_dir=_path(env, "ROUTING_TABLES", DEFAULT_TABLES_DIR) or DEFAULT_TABLES_DIR,
            county_layer=_path(env, "COUNTY_LAYER", None),
            extra_county_layers=_paths(env, "COUNTY_LAYERS_EXTRA"),
            twilio_account_sid=_text(env, "TWILIO_ACCOUNT_SID"),
            twilio_auth_token=_text(env, "TWILIO_AUTH_TOKEN"),
            twilio_api_base_url=_url(env, "TWILIO_API_BASE_URL", "", ("http", "https")),
            public_base_url=_url(
                env, "PUBLIC_BASE_URL", "http://127.0.0.1:8000", ("http", "https")
            ),
            redis_url=_url(
                env, "REDIS_URL", "redis://127.0.0.1:6379/0", ("redis", "rediss", "unix")
            ),
            database_url=_url(
                env,
                "DATABASE_URL",
                "sqlite:///var/gateway.sqlite3",
                ("sqlite", "postgresql", "postgresql+psycopg"),
            ),
            caller_hash_key=_text(env, "CALLER_HASH_KEY"),
            encryption_key=_text(env, "ENCRYPTION_KEY"),
            retention_days=_int(env, "RETENTION_DAYS", 90, 1, 3650),
            coordinate_decimals=_int(env, "COORDINATE_DECIMALS", -1, -1, 3),
            analyst_api_keys=tuple(k for k in _text(env, "ANALYST_API_KEYS").split(",") if k),
            transfer_deadline_s=_int(env, "TRANSFER_DEADLINE_S", 90, 30, 600),
            after_response_threads=_int(env, "AFTER_RESPONSE_THREADS", 4, 0, 64),
        )
