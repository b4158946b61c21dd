"""Adding and removing centers, PSAPs, catchments, overlays and partnerships in the draft."""

from __future__ import annotations

from flask.testing import FlaskClient

from gateway.tables import drafts
from gateway.tables.service import TableVersions
from tests.tables.admin_client import csrf, form_of, signed_in
from tests.tables.test_admin_entries import draft_yaml

NEW_CENTER = {
    "id": "ks-north",
    "name": "Sample North Kansas Crisis Line",
    "number": "+17855550109",
    "timezone": "America/Chicago",
    "hours": "24/7",
    "backups": "ks-statewide, national",
}


def ids(versions: TableVersions, file: str, section: str) -> list[object]:
    rows = draft_yaml(versions, file)[section]
    assert isinstance(rows, list)
    return [row.get("id") or row.get("center") for row in rows]


def test_a_new_center_is_added_to_the_draft(client: FlaskClient, versions: TableVersions) -> None:
    signed_in(client)
    form = form_of(client, "/admin/centers/new", **NEW_CENTER)

    answer = client.post("/admin/centers/new", data=form)

    assert answer.status_code == 302
    assert "ks-north" in ids(versions, "centers.yaml", "centers")
    assert "center ks-north: added" in client.get("/admin/publish").get_data(as_text=True)


def test_a_new_center_with_a_bad_number_is_not_added(client: FlaskClient) -> None:
    signed_in(client)
    form = form_of(client, "/admin/centers/new", **{**NEW_CENTER, "number": "785-555-0109"})

    answer = client.post("/admin/centers/new", data=form)

    assert answer.status_code == 422
    assert 'id="number-error">' in answer.get_data(as_text=True)
    assert "has no changes yet" in client.get("/admin/").get_data(as_text=True)


def test_a_center_other_entries_still_name_is_not_removed(client: FlaskClient) -> None:
    signed_in(client)
    path = "/admin/centers/ks-statewide/remove"

    answer = client.post(path, data={"csrf": csrf(client, "/admin/centers/ks-statewide")})

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert "Not removed" in html and "unknown center &#39;ks-statewide&#39;" in html


def test_a_catchment_and_an_overlay_are_removed_with_its_file(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    token = csrf(client, "/admin/catchments")

    assert client.post("/admin/catchments/5/remove", data={"csrf": token}).status_code == 302
    overlay = "/admin/overlays/prairie-nation-reservation/remove"
    assert client.post(overlay, data={"csrf": token}).status_code == 302

    assert "stl" not in ids(versions, "catchments.yaml", "catchments")
    files = drafts.load_draft(versions, "test").files
    assert "overlays/prairie-nation-reservation.geojson" not in files


def test_a_new_partnership_is_added_from_its_grid_and_removed_again(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    opened = client.get("/admin/partnerships/new?psap=douglas-911&center=kc-kansas")
    assert opened.headers["Location"] == "/admin/partnerships/douglas-911/kc-kansas"
    path = "/admin/partnerships/douglas-911/kc-kansas"
    data = {"csrf": csrf(client, path), "emotional-distress:low": "1"}

    assert client.post(path, data=data).status_code == 302
    pairs = [(p["psap"], p["center"]) for p in drafts.partnerships_of(draft_files(versions))]
    assert ("douglas-911", "kc-kansas") in pairs

    assert client.post(f"{path}/remove", data={"csrf": data["csrf"]}).status_code == 302
    pairs = [(p["psap"], p["center"]) for p in drafts.partnerships_of(draft_files(versions))]
    assert ("douglas-911", "kc-kansas") not in pairs


def test_a_partnership_with_an_unknown_psap_cannot_be_started(client: FlaskClient) -> None:
    signed_in(client)
    answer = client.get("/admin/partnerships/new?psap=nowhere-911&center=kc-kansas")
    assert answer.status_code == 404


def draft_files(versions: TableVersions) -> dict[str, bytes]:
    return dict(drafts.load_draft(versions, "test").files)
