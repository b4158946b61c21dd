"""The /admin pages, through Flask's test client: sign in, edit, publish, roll back, map, test."""

from __future__ import annotations

from flask.testing import FlaskClient

from gateway.tables.service import TableVersions
from tests.tables.admin_client import KEY, center_form, csrf, signed_in


def test_without_a_key_admin_shows_only_the_sign_in_form(client: FlaskClient) -> None:
    page = client.get("/admin/")
    assert page.status_code == 200
    assert 'name="key"' in page.get_data(as_text=True)
    assert "Centers" not in page.get_data(as_text=True)
    assert client.get("/admin/centers").status_code == 302
    assert client.get("/admin/coverage.svg").status_code == 302


def test_a_wrong_key_is_refused_in_plain_words(client: FlaskClient) -> None:
    page = client.post("/admin/sign-in", data={"key": "nope"})
    assert page.status_code == 401
    assert "That is not an administrator key" in page.get_data(as_text=True)


def test_every_page_has_a_strict_content_security_policy(client: FlaskClient) -> None:
    policy = client.get("/admin/").headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_a_bad_hours_value_is_shown_on_its_field_and_nothing_is_saved(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    form = center_form(client, "prairie-nation", hours="mon-fri 08:00-25:00")

    page = client.post("/admin/centers/prairie-nation", data=form)

    html = page.get_data(as_text=True)
    assert page.status_code == 422
    assert 'id="hours-error">&#39;25:00&#39; is not a time of day (00:00 to 24:00)' in html
    assert '<input id="hours" name="hours" value="mon-fri 08:00-25:00"' in html
    assert "has no changes yet" in client.get("/admin/").get_data(as_text=True)


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    signed_in(client)
    form = center_form(client, "prairie-nation", hours="24/7")
    del form["csrf"]

    assert client.post("/admin/centers/prairie-nation", data=form).status_code == 400


def test_an_edit_forms_a_draft_that_is_published_with_a_note_and_rolled_back(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    first = versions.active_id()
    form = center_form(
        client,
        "prairie-nation",
        hours="mon-fri 08:00-18:00",
        holidays="2026-12-25 Christmas Day: closed",
    )
    assert client.post("/admin/centers/prairie-nation", data=form).status_code == 302

    review = client.get("/admin/publish").get_data(as_text=True)
    assert "center prairie-nation" in review and "Christmas Day" in review
    answer = client.post(
        "/admin/publish", data={"note": "longer hours", "csrf": csrf(client, "/admin/publish")}
    )
    assert answer.status_code == 302
    second = versions.active_id()
    assert second != first
    assert versions.audit()[0].by == "alice"
    assert versions.tables(second or "").centers["prairie-nation"].hours.holidays[0].name == (
        "Christmas Day"
    )

    token = csrf(client, "/admin/history")
    answer = client.post(f"/admin/versions/{first}/activate", data={"note": "wait", "csrf": token})
    assert answer.status_code == 302
    assert versions.active_id() == first
    assert "wait" in client.get("/admin/history").get_data(as_text=True)


def test_a_bearer_key_works_without_a_session_or_csrf_token(
    client: FlaskClient, versions: TableVersions
) -> None:
    bearer = {"Authorization": f"Bearer {KEY}"}
    assert client.get("/admin/centers", headers=bearer).status_code == 200
    assert client.get("/admin/centers", headers={"Authorization": "Bearer no"}).status_code == 401


def test_the_coverage_map_is_svg_drawn_from_the_county_layer(client: FlaskClient) -> None:
    signed_in(client)
    answer = client.get("/admin/coverage.svg")

    svg = answer.get_data(as_text=True)
    assert answer.mimetype == "image/svg+xml"
    assert svg.count('class="county"') == 105 + 115  # every county of Kansas and Missouri
    assert 'data-overlay="prairie-nation-reservation"' in svg
    assert "Wyandotte County, KS (20209): Sample KC Kansas Crisis Line" in svg
    assert "<svg" in client.get("/admin/coverage").get_data(as_text=True)


def test_test_a_location_shows_the_decision_and_the_dial_plan_with_hours(
    client: FlaskClient,
) -> None:
    signed_in(client)
    page = client.get(
        "/admin/test",
        query_string={
            "lat": "39.37",
            "lon": "-95.77",
            "caller": "+18165550123",
            "at": "2026-11-29T03:00",  # a Sunday night: Prairie Nation is closed
            "timezone": "America/Chicago",
        },
    ).get_data(as_text=True)

    assert "<h2>Sample Kansas Statewide Crisis Line</h2>" in page
    assert "is closed" in page
    assert "Area-code routing would choose <code>kc-missouri</code>: a different center" in page


def test_test_a_location_without_a_location_says_what_to_give(client: FlaskClient) -> None:
    signed_in(client)
    page = client.get("/admin/test", query_string={"caller": "+18165550123"})
    assert page.status_code == 400
    assert "give a position, a ZIP code" in page.get_data(as_text=True)


def test_a_decision_matrix_is_edited_as_a_grid_of_call_type_by_risk(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    path = "/admin/partnerships/douglas-911/ks-statewide"
    grid = client.get(path).get_data(as_text=True)
    assert 'name="emotional-distress:mild" value="1"' in grid
    assert grid.count("stays with 911") >= 2

    answer = client.post(
        path,
        data={
            "csrf": csrf(client, path),
            "emotional-distress:low": "1",
            "new_call_type": "grief-support",
            "new:low": "1",
            "new:mild": "1",
        },
    )

    assert answer.status_code == 302
    review = client.get("/admin/publish").get_data(as_text=True)
    assert "partnership douglas-911 -&gt; ks-statewide: changed" in review
    assert "grief-support" in review


def test_a_matrix_that_allows_nothing_is_refused_in_plain_words(client: FlaskClient) -> None:
    signed_in(client)
    path = "/admin/partnerships/douglas-911/ks-statewide"

    answer = client.post(path, data={"csrf": csrf(client, path)})

    assert answer.status_code == 422
    assert "allows no call type at any risk" in answer.get_data(as_text=True)
