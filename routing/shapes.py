"""Caller location shapes in longitude/latitude, built from sizes in metres.

Uncertainty shapes are at most a few kilometres across, so a local equirectangular
projection around the shape's centre is accurate to well under a percent, which is far finer
than the county layer itself. Areas are compared only as shares of one shape, so the
projection's constant scale cancels out.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import shapely
import shapely.affinity
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
METRES_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_M / 180.0
DEFAULT_SEGMENTS = 64


def metres_per_degree_lon(lat: float) -> float:
    """Length of one degree of longitude at a latitude, in metres."""
    return METRES_PER_DEGREE_LAT * max(math.cos(math.radians(lat)), 1e-6)


def ellipse(
    lat: float,
    lon: float,
    semi_major_m: float,
    semi_minor_m: float,
    orientation_deg: float = 0.0,
    segments: int = DEFAULT_SEGMENTS,
) -> Polygon:
    """Polygon approximating an ellipse (RFC 5491 §5.2.4).

    Args:
        lat: latitude of the centre, degrees.
        lon: longitude of the centre, degrees.
        semi_major_m: semi-major axis, metres.
        semi_minor_m: semi-minor axis, metres.
        orientation_deg: angle of the semi-major axis clockwise from true north, degrees.
        segments: number of vertices.
    """
    theta = math.radians(orientation_deg)
    kx = metres_per_degree_lon(lat)
    cos_t, sin_t = _unit_circle(segments)
    # Axis-aligned ellipse with its major axis pointing north, then rotated clockwise.
    north, east = semi_major_m * cos_t, semi_minor_m * sin_t
    rn = north * math.cos(theta) - east * math.sin(theta)
    re = north * math.sin(theta) + east * math.cos(theta)
    return Polygon(np.column_stack((lon + re / kx, lat + rn / METRES_PER_DEGREE_LAT)))


@lru_cache(maxsize=8)
def _unit_circle(segments: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    t = np.linspace(0.0, 2.0 * math.pi, segments, endpoint=False)
    return np.cos(t), np.sin(t)


def circle(lat: float, lon: float, radius_m: float, segments: int = DEFAULT_SEGMENTS) -> Polygon:
    """Polygon approximating a circle of `radius_m` metres around (lat, lon)."""
    return ellipse(lat, lon, radius_m, radius_m, 0.0, segments)


def grow(geometry: BaseGeometry, metres: float) -> BaseGeometry:
    """The area within `metres` of a shape (a buffer drawn in metres, not in degrees)."""
    if metres <= 0:
        return geometry
    geometry = _unwrapped(geometry)
    lon0, lat0 = geometry.centroid.x, geometry.centroid.y
    kx = metres_per_degree_lon(lat0)

    origin = np.array([lon0, lat0])
    scale = np.array([kx, METRES_PER_DEGREE_LAT])

    def to_metres(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = (xy - origin) * scale
        return out

    def to_degrees(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = xy / scale + origin
        return out

    local = shapely.transform(geometry, to_metres)
    grown = shapely.transform(shapely.buffer(local, metres, quad_segs=8), to_degrees)
    return across_antimeridian(grown)


def across_antimeridian(geometry: BaseGeometry) -> Polygon | MultiPolygon:
    """A shape that crosses ±180° longitude, as its parts on each side within ±180°.

    A sender writes a small polygon over the Aleutians with corners at 179.9 and -179.9; read
    naively it spans the whole globe the other way round (and lands in Utah).
    """
    geometry = _unwrapped(geometry)
    minx, _, maxx, _ = geometry.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geometry
    parts = [
        shapely.affinity.translate(
            shapely.clip_by_rect(geometry, x0, -90.0, x0 + 360.0, 90.0), -shift
        )
        for x0, shift in ((-180.0, 0.0), (180.0, 360.0), (-540.0, -360.0))
    ]
    polygons = [
        p for p in shapely.get_parts(parts).tolist() if isinstance(p, Polygon) and p.area > 0
    ]
    return MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]


def _unwrapped(geometry: BaseGeometry) -> BaseGeometry:
    """Longitudes made continuous (0..360) when corners lie on both sides of ±180°."""
    minx, _, maxx, _ = geometry.bounds
    if maxx - minx <= 180.0:
        return geometry

    def shift(xy: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        out = xy.copy()
        out[out[:, 0] < 0, 0] += 360.0
        return out

    return shapely.transform(geometry, shift)
