"""The admin's PSAP and specialty-line pages: edits go into the draft, problems onto fields."""

from __future__ import annotations

import yaml
from flask.testing import FlaskClient

from gateway.tables import drafts
from gateway.tables.service import TableVersions
from tests.tables.admin_client import form_of, signed_in


def draft_yaml(versions: TableVersions, name: str) -> dict[str, object]:
    loaded = yaml.safe_load(drafts.load_draft(versions, "test").files[name])
    assert isinstance(loaded, dict)
    return loaded


def test_a_psap_edit_is_saved_in_the_draft_and_shown_for_review(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    listed = client.get("/admin/psaps").get_data(as_text=True)
    assert "Sample Douglas County 911" in listed and "+17855550141 → +17855550142" in listed
    form = form_of(client, "/admin/psaps/douglas-911", alternates="+17855550143")

    answer = client.post("/admin/psaps/douglas-911", data=form)

    assert answer.status_code == 302
    psaps = draft_yaml(versions, "psaps.yaml")["psaps"]
    assert isinstance(psaps, list)
    douglas = next(p for p in psaps if p["id"] == "douglas-911")
    assert douglas["alternates"] == ["+17855550143"] and douglas["counties"] == ["20045"]
    assert "psap douglas-911: changed" in client.get("/admin/publish").get_data(as_text=True)


def test_a_number_another_psap_has_is_shown_on_the_numbers_field(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/psaps/douglas-911", numbers="+17855550140, +18165550130")

    answer = client.post("/admin/psaps/douglas-911", data=form)

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="numbers-error">+18165550130 is also a number of psap &#39;kcmo-911&#39;' in html
    assert "has no changes yet" in client.get("/admin/").get_data(as_text=True)


def test_a_psap_the_draft_does_not_have_is_not_found(client: FlaskClient) -> None:
    signed_in(client)
    assert client.get("/admin/psaps/nowhere-911").status_code == 404


def test_a_veterans_line_naming_an_unknown_center_is_shown_on_its_field(
    client: FlaskClient,
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/specialty", veterans="veteran-line")

    answer = client.post("/admin/specialty", data=form)

    html = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert 'id="veterans-error">unknown center &#39;veteran-line&#39; for veterans' in html


def test_a_language_line_whose_center_does_not_speak_it_is_refused_on_its_field(
    client: FlaskClient,
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/specialty", languages="es: spanish-line\nfr: spanish-line")

    html = client.post("/admin/specialty", data=form).get_data(as_text=True)

    assert 'id="languages-error">the fr line &#39;spanish-line&#39; does not list' in html


def test_a_language_line_written_without_its_colon_says_how_to_write_it(
    client: FlaskClient,
) -> None:
    signed_in(client)
    form = form_of(client, "/admin/specialty", languages="es spanish-line")

    html = client.post("/admin/specialty", data=form).get_data(as_text=True)

    assert "&#39;es spanish-line&#39;: write it as es: spanish-line" in html


def test_the_specialty_lines_are_saved_in_the_draft(
    client: FlaskClient, versions: TableVersions
) -> None:
    signed_in(client)
    assert "es: spanish-line" in client.get("/admin/specialty").get_data(as_text=True)
    form = form_of(client, "/admin/specialty", veterans="")

    answer = client.post("/admin/specialty", data=form)

    assert answer.status_code == 302
    assert draft_yaml(versions, "centers.yaml")["specialty"] == {
        "languages": {"es": "spanish-line"}
    }
