"""Everything wrong with a configuration, found at once: `gateway check` and start-up.

Configuration problems (settings, keys, routing tables) are the operator's to fix before
a process may start: the Procfile's processes refuse to start on any *error* among them
(gateway.serving, gateway.worker). Problems of the parts around the gateway (Redis, the
store and its migrations) are reported by `gateway check` but never stop a start: a web
process that is up keeps callers with 911 and says it is not ready (/readyz), while one
that will not start leaves Twilio with "application error".
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, TextIO
from urllib.parse import urlsplit

from gateway.redis_url import is_sentinel_url, parse_sentinel_url
from gateway.settings import Settings, read_noting_problems
from routing.counties import load_layer
from routing.errors import RoutingError, TablesInvalid
from routing.model import RoutingTables
from routing.tables import load_tables

Severity = Literal["error", "warning"]
# sysexits.h EX_CONFIG: what a supervisor shows for "configuration error".
EXIT_CONFIG = 78


@dataclass(frozen=True)
class Problem:
    """One thing wrong, in one line an operator can act on."""

    severity: Severity
    area: str  # settings, keys, tables, redis, store
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.area}: {self.message}"


def configuration_problems(env: Mapping[str, str]) -> list[Problem]:
    """Settings, keys and routing tables, every problem of each."""
    settings, messages = read_noting_problems(lambda: Settings.from_env(env))
    problems = [Problem("error", "settings", message) for message in messages]
    problems += _required(settings)
    tables = _load_tables(settings, problems)
    if tables is not None:
        problems += _keys_without_owner(settings, tables.psaps, tables.centers)
    return problems


def service_problems(settings: Settings) -> list[Problem]:
    """Redis, and the store's reachability and migration."""
    from gateway.adapters.connections import redis_client
    from gateway.adapters.store.db import create_store_engine
    from gateway.adapters.store.status import store_problem

    problems = []
    try:
        redis_client(settings.redis_url).ping()
    except Exception as exc:  # any failure to answer is "unreachable" here
        where = _where(settings.redis_url)
        problems.append(Problem("error", "redis", f"{where} unreachable ({type(exc).__name__})"))
    engine = create_store_engine(settings.database_url)
    try:
        problem = store_problem(engine)
    finally:
        engine.dispose()
    if problem:
        problems.append(Problem("error", "store", f"{_where(settings.database_url)}: {problem}"))
    return problems


def _required(settings: Settings) -> list[Problem]:
    from gateway.adapters.store.privacy import Cipher

    problems = []
    if not settings.twilio_auth_token:
        problems.append(Problem("error", "settings", "TWILIO_AUTH_TOKEN is required"))
    if not settings.twilio_account_sid:
        problems.append(Problem("error", "settings", "TWILIO_ACCOUNT_SID is required"))
    try:
        Cipher.from_settings(settings)
    except ValueError as exc:
        problems.append(Problem("error", "settings", str(exc)))
    problems += _sealing(settings)
    if not settings.caller_hash_key:
        message = "CALLER_HASH_KEY is not set: repeat callers cannot be linked in reports"
        problems.append(Problem("warning", "settings", message))
    return problems


def _sealing(settings: Settings) -> list[Problem]:
    """PSAP keys without ENCRYPTION_KEY: transfers would lose their summary, callback
    number and location (the live state keeps them only sealed). An error, unless the
    operator chose exactly that with DROP_CALLER_DETAILS."""
    if settings.encryption_key:
        if settings.drop_caller_details:
            message = "DROP_CALLER_DETAILS has no effect: ENCRYPTION_KEY is set"
            return [Problem("warning", "settings", message)]
        return []
    if settings.flow.psap_api_keys and not settings.drop_caller_details:
        message = (
            "ENCRYPTION_KEY is required with PSAP_API_KEYS: the 911 summary, callback number "
            "and location are kept only sealed under it (or set DROP_CALLER_DETAILS=1 to "
            "run without them)"
        )
        return [Problem("error", "settings", message)]
    return []


def _load_tables(settings: Settings, problems: list[Problem]) -> RoutingTables | None:
    where = settings.tables_dir
    try:
        layer = load_layer(settings.county_layer, settings.extra_county_layers)
        tables = load_tables(where, layer)
    except TablesInvalid as exc:
        problems += [Problem("error", "tables", f"{where}: {p}") for p in exc.problems]
    except (OSError, ValueError, RoutingError) as exc:
        problems.append(Problem("error", "tables", f"{where}: cannot be read ({exc})"))
    else:
        return tables
    problems.append(Problem("error", "tables", "no usable routing-table version"))
    return None


def _keys_without_owner(
    settings: Settings, psaps: Iterable[str], centers: Iterable[str]
) -> list[Problem]:
    """Keys naming a PSAP or center the tables no longer have: a warning, never an error,
    so removing a PSAP from the tables never stops the next restart (its key is refused)."""
    problems = []
    for variable, keys, known in (
        ("PSAP_API_KEYS", settings.flow.psap_api_keys, set(psaps)),
        ("CENTER_API_KEYS", settings.flow.center_api_keys, set(centers)),
    ):
        for owner in sorted(set(keys.values()) - known):
            message = f"{variable}: {owner} is not in the routing tables; its key is refused"
            problems.append(Problem("warning", "keys", message))
    return problems


def _where(url: str) -> str:
    """A URL's scheme, host, port and path: never its user or password."""
    if is_sentinel_url(url):
        return parse_sentinel_url(url).display()
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


def report(problems: Iterable[Problem], out: TextIO) -> int:
    """Print each problem, then a count; the number of errors."""
    problems = list(problems)
    for problem in problems:
        print(problem, file=out)
    errors = sum(problem.severity == "error" for problem in problems)
    print(f"{errors} error(s), {len(problems) - errors} warning(s)", file=out)
    return errors


def refuse_to_start_on_errors(env: Mapping[str, str], process: str) -> None:
    """At a process's start: print the configuration's problems; exit EXIT_CONFIG on errors.

    Redis and the store are not asked: a process starts without them (see the module).
    """
    problems = configuration_problems(env)
    if not problems:
        return
    errors = report(problems, sys.stderr)
    if errors:
        print(f"gateway {process}: not started: configuration errors above", file=sys.stderr)
        sys.exit(EXIT_CONFIG)
