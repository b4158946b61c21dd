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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            tables_dir=_path(env, "ROUTING_TABLES", DEFAULT_TABLES_DIR) or DEFAULT_TABLES_DIR,
            county_layer=_path(env, "COUNTY_LAYER", None),
            extra_county_layers=_paths(env, "COUNTY_LAYERS_EXTRA"),
        )
