"""Overlays uploaded in the web admin: GeoJSON as sent, or a zipped shapefile made GeoJSON.

The table set stores overlays as GeoJSON, so a shapefile is converted once, here; the result
is then checked with the same bounded parsing as any table file (size, nesting, vertices).
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from pathlib import Path

from routing.counties import read_shapefile
from routing.errors import RoutingError
from routing.tables import MAX_OVERLAY_FILE_BYTES

SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj")


def overlay_geojson(filename: str, data: bytes) -> bytes:
    """The overlay file to store for an upload named `filename`.

    Raises:
        RoutingError: a zip that is not one readable, small enough, lon/lat shapefile.
    """
    if not filename.lower().endswith(".zip"):
        return data
    with tempfile.TemporaryDirectory(prefix="overlay-") as folder:
        layer = read_shapefile(_unzip_shapefile(data, Path(folder)))
    layer.pop("metadata", None)  # it names the temporary folder
    return json.dumps(layer).encode()


def _unzip_shapefile(data: bytes, folder: Path) -> Path:
    """The .shp of the zip, unpacked with its parts into `folder`, each only up to the
    overlay file limit (so a zip bomb stops there)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise RoutingError("not a zip file: upload GeoJSON, or a shapefile zipped") from None
    with archive:
        parts = [
            i for i in archive.infolist() if Path(i.filename).suffix.lower() in SHAPEFILE_PARTS
        ]
        for info in parts:
            _unpack(archive, info, folder / ("layer" + Path(info.filename).suffix.lower()))
    if not (folder / "layer.shp").exists() or len({Path(i.filename).stem for i in parts}) > 1:
        raise RoutingError("the zip must hold one shapefile (.shp with its .shx, .dbf and .prj)")
    return folder / "layer.shp"


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    try:
        with archive.open(info) as member:
            content = member.read(MAX_OVERLAY_FILE_BYTES + 1)
    except (zipfile.BadZipFile, NotImplementedError, OSError) as exc:
        raise RoutingError(f"{info.filename}: cannot unpack it ({exc})") from None
    if len(content) > MAX_OVERLAY_FILE_BYTES:
        raise RoutingError(f"too large: {info.filename} is over {MAX_OVERLAY_FILE_BYTES:,} bytes")
    target.write_bytes(content)
