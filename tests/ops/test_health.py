"""/healthz says the process is up; /readyz says whether a transfer could be made now."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flask import Flask
from sqlalchemy import text

from gateway.adapters.store.db import create_store_engine
from gateway.web import health
from routing.engine import Router
from tests.ops.apps import DOWN_REDIS_URL, migrated_sqlite, ops_app, signed


def _ready_app(router: Router, redis_url: str, tmp_path: Path) -> Flask:
    app, _ = ops_app(router, redis_url, migrated_sqlite(tmp_path))
    return app


def test_healthz_answers_up_without_a_key(router: Router, tmp_path: Path) -> None:
    app, _ = ops_app(router, DOWN_REDIS_URL, f"sqlite:///{tmp_path / 'none.sqlite3'}")
    answer = app.test_client().get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "up"}


def test_readyz_is_ready_with_redis_a_migrated_store_and_tables(
    router: Router, redis_url: str, tmp_path: Path
) -> None:
    answer = _ready_app(router, redis_url, tmp_path).test_client().get("/readyz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ready"}


def test_readyz_lists_redis_and_an_unmigrated_store_as_missing(
    router: Router, tmp_path: Path
) -> None:
    app, _ = ops_app(router, DOWN_REDIS_URL, f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json() == {
        "status": "not-ready",
        "missing": ["redis unreachable", "store not migrated (run `gateway store migrate`)"],
    }


def test_readyz_says_the_store_is_unreachable_without_naming_it(
    router: Router, redis_url: str
) -> None:
    # Nothing listens on port 1: the connection is refused at once.
    secret_url = "postgresql://gateway:s3cret@127.0.0.1:1/outcomes"
    app, _ = ops_app(router, redis_url, secret_url)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["missing"] == ["store unreachable"]
    assert "s3cret" not in answer.get_data(as_text=True)


def test_readyz_says_a_store_behind_the_code_is_not_migrated(
    router: Router, redis_url: str, tmp_path: Path
) -> None:
    url = migrated_sqlite(tmp_path)
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000_older'"))
    engine.dispose()
    app, _ = ops_app(router, redis_url, url)
    missing = app.test_client().get("/readyz").get_json()["missing"]
    assert missing == ["store not migrated to the current revision (run `gateway store migrate`)"]


def test_with_redis_down_the_caller_still_gets_twiml_that_keeps_them_with_911(
    router: Router, tmp_path: Path
) -> None:
    app, _ = ops_app(router, DOWN_REDIS_URL, migrated_sqlite(tmp_path))
    form = {"CallSid": "CA" + "1" * 32, "From": "+19135550120", "To": "+19135550150"}
    answer = app.test_client().post(
        "/voice", data=form, headers=signed("/voice", form), base_url="https://gateway.test"
    )
    assert answer.status_code == 200
    assert "9 1 1 stays on the line" in answer.get_data(as_text=True)
    assert app.test_client().get("/readyz").status_code == 503


def test_readyz_says_so_when_no_routing_table_version_is_loaded(
    router: Router, redis_url: str, tmp_path: Path
) -> None:
    app = _ready_app(router, redis_url, tmp_path)
    probes = app.extensions[health.EXTENSION]
    app.extensions[health.EXTENSION] = replace(probes, tables_version=lambda: None)
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["missing"] == ["no routing-table version loaded"]
