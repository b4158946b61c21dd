"""What the routing core is told about where a caller is.

A location arrives as a point (wireless Phase II latitude/longitude with an optional
uncertainty radius), a shape (RFC 5491 circle, ellipse, polygon from a PIDF-LO), a civic
address or ZIP code, or nothing but the PSAP that is transferring. Impossible values are
refused here, with a clear reason, before anything tries to route them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from shapely.geometry import MultiPolygon, Polygon

from routing.errors import LocationError

# A Phase II fix is rarely worse than a few kilometres; a "radius" of hundreds of kilometres
# says nothing about a county and is far more likely a unit error (feet, or km as m).
MAX_RADIUS_M = 100_000.0


def _finite(name: str, value: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LocationError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise LocationError(f"{name} must be a finite number, got {value!r}")
    return number


@dataclass(frozen=True)
class Point:
    """A latitude/longitude (WGS 84) with an optional uncertainty radius in metres."""

    lat: float
    lon: float
    radius_m: float | None = None
    confidence: float | None = None  # percent, when the sender stated it (RFC 7459)

    def __post_init__(self) -> None:
        lat = _finite("latitude", self.lat)
        lon = _finite("longitude", self.lon)
        if not -90.0 <= lat <= 90.0:
            raise LocationError(f"latitude {lat} is beyond ±90 degrees")
        if not -180.0 <= lon <= 180.0:
            raise LocationError(f"longitude {lon} is beyond ±180 degrees")
        object.__setattr__(self, "lat", lat)
        object.__setattr__(self, "lon", lon)
        if self.radius_m is not None:
            radius = _finite("uncertainty radius", self.radius_m)
            if radius < 0:
                raise LocationError(f"uncertainty radius {radius} m is negative")
            if radius > MAX_RADIUS_M:
                raise LocationError(
                    f"uncertainty radius {radius:.0f} m is over {MAX_RADIUS_M:.0f} m: "
                    "too coarse to locate a county"
                )
            object.__setattr__(self, "radius_m", radius)
        _check_confidence(self.confidence)


def _check_confidence(confidence: float | None) -> None:
    if confidence is not None and not 0.0 < _finite("confidence", confidence) <= 100.0:
        raise LocationError(f"confidence {confidence} is not a percentage in (0, 100]")


@dataclass(frozen=True)
class Shape:
    """An uncertainty area in longitude/latitude, e.g. an RFC 5491 circle, ellipse or polygon.

    Attributes:
        geometry: a valid polygon (two, for a shape split at the antimeridian), coordinates as
            (longitude, latitude).
        description: how a call-taker would say it, e.g. "circle ±300 m".
        confidence: the percent chance the caller is inside, when the sender stated it (RFC
            7459); the shape is used as given, never rescaled.
    """

    geometry: Polygon | MultiPolygon
    description: str
    confidence: float | None = None

    def __post_init__(self) -> None:
        _check_confidence(self.confidence)
        if self.geometry.is_empty or not self.geometry.is_valid:
            raise LocationError(f"{self.description}: the shape is empty or self-intersecting")
        minx, miny, maxx, maxy = self.geometry.bounds
        if miny < -90 or maxy > 90 or minx < -180 or maxx > 180:
            raise LocationError(f"{self.description}: the shape goes beyond ±90/±180 degrees")


@dataclass(frozen=True)
class Civic:
    """A civic address (RFC 5139 element names in comments). Any field may be missing."""

    country: str | None = None  # country
    state: str | None = None  # A1, e.g. "KS"
    county: str | None = None  # A2, e.g. "Wyandotte"
    city: str | None = None  # A3
    street: str | None = None  # RD (with PRD/POD/STS folded in)
    house_number: str | None = None  # HNO
    postal_code: str | None = None  # PC, 5-digit ZIP in the US


@dataclass(frozen=True)
class LocationQuery:
    """Everything a routing decision may use. Fields left None are simply not known.

    Attributes:
        geo: a point or a shape.
        civic: a civic address or ZIP code.
        psap_id: the PSAP transferring the call (its service area is a fallback).
        caller: the caller's number in E.164; used only to show what area-code routing does.
        language: an ISO 639-1 code when the caller asked for another language ("es").
        veteran: the caller asked for the Veterans Crisis Line.
        at: when the call is routed (hours); now when None.
        notes: what reading the location showed that the decision should say (e.g. a
            PIDF-LO that held nothing usable).
    """

    geo: Point | Shape | None = None
    civic: Civic | None = None
    psap_id: str | None = None
    caller: str | None = None
    language: str | None = None
    veteran: bool = False
    at: datetime | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()
