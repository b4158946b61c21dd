"""The admin's catchments and overlays: counties by state with priorities, uploads, preview."""

from __future__ import annotations

import io
import json
import zipfile

import shapefile  # pyshp
from flask.testing import FlaskClient

from gateway.tables import drafts
from gateway.tables.service import TableVersions
from tests.tables.admin_client import form_of, signed_in
from tests.tables.test_admin_entries import draft_yaml

# A fictional campus of about 2 km in Douglas County, KS, clockwise as shapefiles have it.
CAMPUS = [(-95.26, 38.94), (-95.26, 38.96), (-95.24, 38.96), (-95.24, 38.94), (-95.26, 38.94)]
WGS84 = 'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137,298.257223563]]]'


def overlay_post(client: FlaskClient, name: str, content: bytes, **fields: str) -> str:
    form = form_of(client, "/admin/overlays/new", name="Sample Campus", center="kc-kansas")
    form |= {"id": "campus", **fields}
    data: dict[str, object] = {**form, "upload": (io.BytesIO(content), name)}
    answer = client.post("/admin/overlays/new", data=data, content_type="multipart/form-data")
    return f"{answer.status_code} {answer.get_data(as_text=True)}"


def campus_geojson(ring: list[tuple[float, float]] = CAMPUS) -> bytes:
    polygon = {"type": "Polygon", "coordinates": [ring]}
    feature = {"type": "Feature", "properties": {}, "geometry": polygon}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def campus_shapefile_zip() -> bytes:
    shp, shx, dbf = io.BytesIO(), io.BytesIO(), io.BytesIO()
    with shapefile.Writer(shp=shp, shx=shx, dbf=dbf, shapeType=shapefile.POLYGON) as writer:
        writer.field("NAME", "C")
        writer.poly([CAMPUS])
        writer.record("Sample Campus")
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        for suffix, part in ((".shp", shp), (".shx", shx), (".dbf", dbf)):
            archive.writestr(f"campus/campus{suffix}", part.getvalue())
        archive.writestr("campus/campus.prj", WGS84)
    return packed.getvalue()


def test_the_catchments_page_lists_each_states_counties_with_their_center(
    client: FlaskClient,
) -> None:
    signed_in(client)
    page = client.get("/admin/catchments").get_data(as_text=True)

    assert "every county of KS except 20209, 20091" in page
    assert "<td>Wyandotte County, KS</td><td>Sample KC Kansas Crisis Line</td>" in page
    assert "KS: 105 counties, 0 served by no center" in page
    assert "Sample Prairie Nation Reservation" in page


def test_a_catchment_priority_is_edited_in_the_draft(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/catchments/4", priority="20")

    assert client.post("/admin/catchments/4", data=form).status_code == 302
    catchments = draft_yaml(versions, "catchments.yaml")["catchments"]
    assert isinstance(catchments, list)
    assert catchments[3] == {
        "center": "kc-missouri",
        "counties": ["29095", "29047", "29165", "29037"],
        "priority": 20,
    }


def test_an_unknown_state_and_a_wordy_priority_are_shown_on_their_fields(
    client: FlaskClient,
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/catchments/3", state="XX")
    html = client.post("/admin/catchments/3", data=form).get_data(as_text=True)
    assert 'id="state-error">unknown state &#39;XX&#39;' in html

    form = form_of(client, "/admin/catchments/3", priority="high")
    html = client.post("/admin/catchments/3", data=form).get_data(as_text=True)
    assert 'id="priority-error">&#39;high&#39; is not a whole number' in html


def test_a_geojson_overlay_is_uploaded_into_the_draft_and_previewed(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)

    assert overlay_post(client, "campus.geojson", campus_geojson()).startswith("302")

    assert "overlays/campus.geojson" in drafts.load_draft(versions, "test").files
    assert 'src="/admin/overlays/campus/preview.svg"' in client.get(
        "/admin/overlays/campus"
    ).get_data(as_text=True)
    preview = client.get("/admin/overlays/campus/preview.svg")
    assert preview.mimetype == "image/svg+xml"
    assert 'data-overlay="campus"' in preview.get_data(as_text=True)


def test_a_zipped_shapefile_overlay_is_stored_as_geojson(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)

    assert overlay_post(client, "campus.zip", campus_shapefile_zip()).startswith("302")

    stored = json.loads(drafts.load_draft(versions, "test").files["overlays/campus.geojson"])
    assert stored["features"][0]["geometry"]["type"] == "Polygon"


def test_an_upload_that_is_no_zip_is_refused_on_the_upload_field(client: FlaskClient) -> None:
    signed_in(client)

    answer = overlay_post(client, "campus.zip", b"not a zip")

    assert answer.startswith("422")
    assert 'id="upload-error">not a zip file' in answer


def test_an_overlay_with_latitude_first_is_refused_on_its_file_field(
    client: FlaskClient,
) -> None:
    signed_in(client)
    swapped = [(lat, lon) for lon, lat in CAMPUS]

    answer = overlay_post(client, "campus.geojson", campus_geojson(swapped))

    assert answer.startswith("422")
    assert 'id="file-error">coordinates must be longitude, latitude' in answer
