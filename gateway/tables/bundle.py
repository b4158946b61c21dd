"""A table set uploaded as a zip: unpacked with bounds, so a hostile archive costs little.

The zip holds a table folder as `gateway tables publish` reads it: the YAML files, and the
overlays in overlays/. One top folder (a zipped `tables/` folder) is allowed and dropped.
Entries are read with a cap on the bytes each may give, whatever its header claims, so a
zip bomb stops at the limit; paths that leave the folder are refused.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import PurePosixPath

from routing.errors import TableError, TablesInvalid
from routing.tables import MAX_OVERLAY_FILE_BYTES, MAX_SET_BYTES, MAX_TABLE_FILE_BYTES, OVERLAY_DIR

MAX_ZIP_BYTES = MAX_SET_BYTES + 10_000_000
"""An upload's own limit: a whole set stored uncompressed, and room for the zip's headers."""
MAX_ENTRIES = 1_000
TABLE_SUFFIXES = (".yaml", ".yml")
OVERLAY_SUFFIXES = (".geojson", ".json")


def unzip_tables(data: bytes) -> dict[str, bytes]:
    """The table files in a zip, by path inside the set.

    Raises:
        TablesInvalid: not a zip, too many entries, a path leaving the set, or a file beyond
            its size limit (counted as it is read, not as its header claims).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise _invalid("upload", "not a zip file of a table folder") from None
    entries = [i for i in archive.infolist() if not i.is_dir()]
    if len(entries) > MAX_ENTRIES:
        raise _invalid("upload", f"more than {MAX_ENTRIES} files")
    prefix = _common_folder([e.filename for e in entries])
    files: dict[str, bytes] = {}
    for entry in entries:
        name = _name(entry.filename, prefix)
        if name is not None:
            files[name] = _read(archive, entry, name, sum(map(len, files.values())))
    return files


def _common_folder(names: list[str]) -> str:
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and all("/" in n for n in names):
        return tops.pop() + "/"
    return ""


def _name(filename: str, prefix: str) -> str | None:
    """The path inside the set, or None for a file that is not a table (a README)."""
    whole = PurePosixPath(filename)
    if whole.is_absolute() or ".." in whole.parts or "\\" in filename:
        raise _invalid(filename, "a path outside the table folder")
    path = PurePosixPath(filename[len(prefix) :])
    if len(path.parts) == 1 and path.suffix in TABLE_SUFFIXES:
        return path.as_posix()
    if len(path.parts) == 2 and path.parts[0] == OVERLAY_DIR and path.suffix in OVERLAY_SUFFIXES:
        return path.as_posix()
    return None


def _read(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, name: str, so_far: int) -> bytes:
    limit = MAX_OVERLAY_FILE_BYTES if name.startswith(OVERLAY_DIR) else MAX_TABLE_FILE_BYTES
    try:
        with archive.open(entry) as handle:
            content = handle.read(limit + 1)
    except (zipfile.BadZipFile, RuntimeError, OSError, EOFError) as exc:
        raise _invalid(name, f"cannot be unpacked ({exc})") from None
    if len(content) > limit:
        raise _invalid(name, f"too large: more than {limit:,} bytes unpacked")
    if so_far + len(content) > MAX_SET_BYTES:
        raise _invalid(name, f"too large: the set would exceed {MAX_SET_BYTES:,} bytes unpacked")
    return content


def _invalid(file: str, reason: str) -> TablesInvalid:
    return TablesInvalid([TableError(file, "file", reason)])
