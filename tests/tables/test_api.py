"""The table versions over HTTP with an administrator key."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.settings import FlowConfig, Settings
from gateway.tables import api as tables_api
from gateway.tables.bundle import MAX_ZIP_BYTES
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.tables import DEFAULT_TABLES_DIR, load_tables, read_table_files
from tests.routing.test_tables import edit

KEY = "admin-key-of-alice-0123456789"
ADMIN = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def client(
    versions: TableVersions, county_layer: CountyLayer, county_index: CountyIndex
) -> FlaskClient:
    tables = load_tables(DEFAULT_TABLES_DIR, county_layer)
    settings = Settings(
        admin_api_keys={KEY: "alice", "other-admin-key-0123456789": "bob"},
        flow=FlowConfig(psap_api_keys={"psap-key-0123456789abcdef": "gone-911"}),
    )
    app = Flask(__name__)
    router = Router(Snapshot(county_layer, county_index, tables))
    tables_api.init_app(app, settings, router, versions)
    app.register_blueprint(tables_api.bp)
    return app.test_client()


def zipped(folder: Path, top: str = "tables/") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in read_table_files(folder).items():
            archive.writestr(top + name, content)
        archive.writestr(top + "README.md", "not a table")
    return buffer.getvalue()


def post_zip(client: FlaskClient, data: bytes, note: str = "why") -> tuple[int, dict[str, object]]:
    answer = client.post(
        "/api/v1/tables/versions",
        query_string={"note": note},
        data=data,
        headers={**ADMIN, "Content-Type": "application/zip"},
    )
    return answer.status_code, answer.get_json()


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}])
def test_every_endpoint_needs_an_administrator_key(
    client: FlaskClient, headers: dict[str, str]
) -> None:
    assert client.get("/api/v1/tables/versions", headers=headers).status_code == 401
    assert client.post("/api/v1/tables/versions", headers=headers).status_code == 401
    assert client.post("/api/v1/tables/versions/x/activate", headers=headers).status_code == 401


def test_a_zipped_folder_is_published_by_the_keys_name_with_its_warnings(
    client: FlaskClient, versions: TableVersions
) -> None:
    status, body = post_zip(client, zipped(DEFAULT_TABLES_DIR), "first set")

    assert status == 201
    assert body["version"] == versions.active_id()
    assert body["warnings"] == [
        "PSAP_API_KEYS: gone-911: a key is given for psap 'gone-911', which the tables lack"
    ]
    listing = client.get("/api/v1/tables/versions", headers=ADMIN).get_json()
    assert listing["active"] == body["version"]
    (version,) = listing["versions"]
    assert (version["published_by"], version["note"], version["active"]) == (
        "alice",
        "first set",
        True,
    )


def test_an_invalid_set_is_a_422_listing_every_problem(client: FlaskClient, tables: Path) -> None:
    edit(tables / "centers.yaml", '"+19135550102"', '"+1913555"')

    status, body = post_zip(client, zipped(tables, top=""))

    assert status == 422
    assert body["error"] == "invalid-tables"
    assert body["problems"] == [
        {
            "file": "centers.yaml",
            "entry": "center kc-kansas",
            "reason": "number: '+1913555' is not a valid phone number",
        }
    ]


def test_a_rollback_over_http_activates_the_earlier_version(
    client: FlaskClient, versions: TableVersions, tables: Path
) -> None:
    _, first = post_zip(client, zipped(DEFAULT_TABLES_DIR), "first")
    edit(tables / "centers.yaml", "Sample KC Kansas Crisis Line", "Renamed")
    post_zip(client, zipped(tables), "rename")

    answer = client.post(
        f"/api/v1/tables/versions/{first['version']}/activate",
        json={"note": "back"},
        headers={"Authorization": "Bearer other-admin-key-0123456789"},
    )

    assert answer.status_code == 200
    assert versions.active_id() == first["version"]
    assert (versions.audit()[0].by, versions.audit()[0].action) == ("bob", "rollback")


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/v1/tables/versions/nope/activate", {"note": "x"}, 404, "no published version"),
        ("/api/v1/tables/versions/{v}/activate", {}, 400, "note: required"),
    ],
)
def test_a_bad_activation_is_a_4xx_naming_why(
    client: FlaskClient, path: str, body: dict[str, str], status: int, message: str
) -> None:
    _, published = post_zip(client, zipped(DEFAULT_TABLES_DIR))

    answer = client.post(path.format(v=published["version"]), json=body, headers=ADMIN)

    assert answer.status_code == status
    assert message in answer.get_json()["message"]


def test_a_publish_without_a_note_is_a_400(client: FlaskClient) -> None:
    assert post_zip(client, zipped(DEFAULT_TABLES_DIR), note="") == (
        400,
        {"error": "bad-request", "message": "note: required (who is changing the tables, and why)"},
    )


def test_a_zip_bomb_stops_at_the_file_limit(client: FlaskClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("centers.yaml", b"#" * 50_000_000)  # 50 MB of one byte: ~50 KB zipped
    assert len(buffer.getvalue()) < 100_000

    status, body = post_zip(client, buffer.getvalue())

    assert status == 422
    assert body["problems"] == [
        {
            "file": "centers.yaml",
            "entry": "file",
            "reason": "too large: more than 1,000,000 bytes unpacked",
        }
    ]


@pytest.mark.parametrize(
    ("name", "reason"),
    [("../centers.yaml", "a path outside the table folder"), ("/etc/x.yaml", "a path outside")],
)
def test_a_path_leaving_the_folder_is_refused(client: FlaskClient, name: str, reason: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, b"centers: []")

    status, body = post_zip(client, buffer.getvalue())

    assert status == 422
    assert reason in str(body["problems"])


def test_not_a_zip_and_too_large_an_upload_are_refused(client: FlaskClient) -> None:
    status, body = post_zip(client, b"centers: []")
    assert (status, body["problems"][0]["reason"]) == (422, "not a zip file of a table folder")

    status, body = post_zip(client, b"0" * (MAX_ZIP_BYTES + 1))
    assert (status, body["error"]) == (413, "too-large")
