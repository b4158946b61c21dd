"""The admin app under Flask's test client, signed in as alice, and helpers to fill its forms."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from gateway.settings import Settings
from gateway.tables import web
from gateway.tables.service import TableVersions
from routing.counties import CountyLayer
from routing.engine import Router, Snapshot
from routing.index import CountyIndex
from routing.tables import DEFAULT_TABLES_DIR, load_tables

KEY = "admin-key-of-alice-0123456789"


@pytest.fixture
def client(
    versions: TableVersions, county_layer: CountyLayer, county_index: CountyIndex
) -> FlaskClient:
    versions.publish_folder(DEFAULT_TABLES_DIR, "setup", "the sample")
    tables = load_tables(DEFAULT_TABLES_DIR, county_layer)
    app = Flask(__name__)
    router = Router(Snapshot(county_layer, county_index, tables))
    web.init_app(app, Settings(admin_api_keys={KEY: "alice"}), router, versions)
    return app.test_client()


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def signed_in(client: FlaskClient) -> FlaskClient:
    assert client.post("/admin/sign-in", data={"key": KEY}).status_code == 302
    return client


def center_form(client: FlaskClient, center_id: str, **changes: str) -> dict[str, str]:
    return form_of(client, f"/admin/centers/{center_id}", **changes)


def form_of(client: FlaskClient, path: str, **changes: str) -> dict[str, str]:
    """The fields of an entry form as the page shows them, with `changes` made."""
    page = client.get(path).get_data(as_text=True)
    fields = dict(re.findall(r'<input id="(\w+)" name="\w+" value="([^"]*)"', page))
    fields |= {n: v for n, v in re.findall(r'<textarea id="(\w+)"[^>]*>([^<]*)</textarea>', page)}
    return {**fields, **changes, "csrf": csrf(client, path)}
