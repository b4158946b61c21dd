"""Typed settings, read from the environment once, at start-up.

Each helper refuses a bad value with a message naming the variable, so a misconfigured
gateway stops at start instead of misrouting a caller later. A secret may come from a file
named by NAME_FILE (the usual way to mount secrets), instead of NAME itself.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import ParamSpec, TypeVar

from gateway.redis_url import SCHEME as SENTINEL_SCHEME
from gateway.redis_url import is_sentinel_url, parse_sentinel_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TABLES_DIR = PROJECT_ROOT / "config" / "tables"


class SettingsError(ValueError):
    """Settings the gateway cannot run with; `problems` lists each one, message by message."""

    def __init__(self, *problems: str) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# While `from_env` reads, each bad value is noted here and reading goes on, so one start
# reports every mistake at once instead of one per restart.
_problems: ContextVar[list[str] | None] = ContextVar("settings_problems", default=None)
P = ParamSpec("P")
T = TypeVar("T")


def _fail(message: str, default: T) -> T:
    """Note a bad value (or raise it, outside `from_env`) and go on with `default`."""
    problems = _problems.get()
    if problems is None:
        raise SettingsError(message)
    problems.append(message)
    return default


def read_noting_problems(read: Callable[[], T]) -> tuple[T, list[str]]:
    """What `read` (e.g. `lambda: Settings.from_env(env)`) builds, bad values replaced by
    their defaults, and the message of each bad value (`gateway check` reports them all)."""
    problems: list[str] = []
    token = _problems.set(problems)
    try:
        return read(), problems
    finally:
        _problems.reset(token)


def _all_problems(read: Callable[P, T]) -> Callable[P, T]:
    """Run `read` noting every bad value; raise one SettingsError listing them all."""

    @functools.wraps(read)
    def collecting(*args: P.args, **kwargs: P.kwargs) -> T:
        if _problems.get() is not None:  # an outer reader collects
            return read(*args, **kwargs)
        result, problems = read_noting_problems(lambda: read(*args, **kwargs))
        if problems:
            raise SettingsError(*problems)
        return result

    return collecting


def _text(env: Mapping[str, str], name: str, default: str = "") -> str:
    file_name = env.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return _fail(f"{name}_FILE={file_name}: cannot read it ({exc})", "")
    return env.get(name, default).strip()


def _path(env: Mapping[str, str], name: str, default: Path | None) -> Path | None:
    value = _text(env, name)
    if not value:
        return default
    path = Path(value)
    if not path.exists():
        return _fail(f"{name}={value}: no such file or directory", default)
    return path


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = _text(env, name)
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        return _fail(f"{name}={value!r}: not a whole number", default)
    if not low <= number <= high:
        return _fail(f"{name}={number}: must be between {low} and {high}", default)
    return number


def _url(env: Mapping[str, str], name: str, default: str, schemes: tuple[str, ...]) -> str:
    value = _text(env, name) or default
    if value and not value.startswith(tuple(f"{s}://" for s in schemes)):
        return _fail(f"{name}={value!r}: must start with {' or '.join(schemes)}://", default)
    return value.rstrip("/") if name.endswith("BASE_URL") else value


def _redis_url(env: Mapping[str, str]) -> str:
    """REDIS_URL: one server (redis, rediss, unix) or a primary found by Sentinel."""
    default = "redis://127.0.0.1:6379/0"
    value = _url(env, "REDIS_URL", default, ("redis", "rediss", "unix", SENTINEL_SCHEME))
    if is_sentinel_url(value):
        try:
            parse_sentinel_url(value)
        except ValueError as exc:  # its message never repeats the password
            return _fail(f"REDIS_URL: {exc}", default)
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (_text(env, name) or "false").lower()
    if value not in ("true", "false", "1", "0"):
        raise SettingsError(f"{name}={value!r}: expected true or false")
    return value in ("true", "1")


def _paths(env: Mapping[str, str], name: str) -> tuple[Path, ...]:
    value = _text(env, name)
    paths = tuple(Path(p) for p in value.split(os.pathsep) if p)
    missing = [path for path in paths if not path.exists()]
    for path in missing:
        _fail(f"{name}: {path}: no such file", None)
    return tuple(path for path in paths if path not in missing)


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
            _fail(f"{variable}: {owner or '?'}: expected 'id:key'", None)
        elif len(key) < 16:
            _fail(f"{variable}: {owner}: the key is shorter than 16 characters", None)
        elif key in keys:
            _fail(f"{variable}: {owner}: the same key is given twice", None)
        else:
            keys[key] = owner
    return keys


@dataclass(frozen=True)
class FlowConfig:
    """The call-flow section of the settings (`Settings.flow`).

    GATEWAY_PHONE_NUMBER is the Twilio number PSAPs conference callers to (E.164), also the
    caller ID of every call the gateway places. PSAP_API_KEYS and CENTER_API_KEYS are
    "id:key,id:key" (or a file named by NAME_FILE): which key speaks for which PSAP, and
    for which 988 center (escalation requests). PENDING_WINDOW_S: how long a registered
    transfer waits for its call (default 300).

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
            _fail(f"GATEWAY_PHONE_NUMBER={self.gateway_number!r}: not E.164", None)
        shared = set(self.psap_api_keys) & set(self.center_api_keys)
        if shared:
            # One key speaking for a PSAP and a center could not say which one asks.
            owners = sorted(self.center_api_keys[key] for key in shared)
            _fail(f"CENTER_API_KEYS: {', '.join(owners)}: key also a PSAP key", None)

    @classmethod
    @_all_problems
    def from_env(cls, env: Mapping[str, str] | None = None) -> FlowConfig:
        """Read the call-flow settings from the environment (see the class docstring)."""
        env = os.environ if env is None else env
        window = env.get("PENDING_WINDOW_S", "300").strip()
        if not window.isdigit() or not 30 <= int(window) <= 3600:
            window = _fail(f"PENDING_WINDOW_S={window!r}: seconds from 30 to 3600", "300")
        return cls(
            gateway_number=env.get("GATEWAY_PHONE_NUMBER", DEFAULT_GATEWAY_NUMBER).strip(),
            psap_api_keys=parse_api_keys(_text(env, "PSAP_API_KEYS"), "PSAP_API_KEYS"),
            pending_window_s=int(window),
            center_api_keys=parse_api_keys(_text(env, "CENTER_API_KEYS"), "CENTER_API_KEYS"),
        )


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
    # Without ENCRYPTION_KEY the live state cannot seal the 911 summary, the callback
    # number and the location, so it does not keep them; with PSAP keys configured that
    # is refused unless the operator says so (DROP_CALLER_DETAILS, docs/configuration.md).
    drop_caller_details: bool = False
    retention_days: int = 90
    coordinate_decimals: int = -1  # -1: keep only the county; 0..3: rounded coordinates
    analyst_api_keys: tuple[str, ...] = field(default=(), repr=False)
    transfer_deadline_s: int = 90
    # Threads per web process for the REST requests a webhook sends after answering
    # (gateway.web.afterwards); 0 sends them from the worker itself once it has answered.
    after_response_threads: int = 4
    # Where a web process spools the events Redis would not take (gateway.adapters.spool):
    # a directory that survives a restart of the process (not a tmpfs), one per host.
    event_spool_dir: str = "var/event-spool"
    # A gateway for drills and demos: its transfers are marked so reports leave them out.
    drill: bool = False
    flow: FlowConfig = field(default_factory=FlowConfig)
    # Administrators of the routing tables: key -> name (the name goes into the audit log).
    admin_api_keys: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    @_all_problems
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
            redis_url=_redis_url(env),
            database_url=_url(
                env,
                "DATABASE_URL",
                "sqlite:///var/gateway.sqlite3",
                ("sqlite", "postgresql", "postgresql+psycopg"),
            ),
            caller_hash_key=_text(env, "CALLER_HASH_KEY"),
            encryption_key=_text(env, "ENCRYPTION_KEY"),
            drop_caller_details=_flag(env, "DROP_CALLER_DETAILS"),
            retention_days=_int(env, "RETENTION_DAYS", 90, 1, 3650),
            coordinate_decimals=_int(env, "COORDINATE_DECIMALS", -1, -1, 3),
            analyst_api_keys=tuple(k for k in _text(env, "ANALYST_API_KEYS").split(",") if k),
            transfer_deadline_s=_int(env, "TRANSFER_DEADLINE_S", 90, 30, 600),
            after_response_threads=_int(env, "AFTER_RESPONSE_THREADS", 4, 0, 64),
            event_spool_dir=_text(env, "EVENT_SPOOL_DIR", "var/event-spool"),
            drill=_flag(env, "GATEWAY_DRILL"),
            flow=FlowConfig.from_env(env),
            admin_api_keys=parse_api_keys(_text(env, "ADMIN_API_KEYS"), "ADMIN_API_KEYS"),
        )
