"""Server-drawn SVG bar charts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from gateway.web.charts import Chart, nice_top, render

SVG = "{http://www.w3.org/2000/svg}"


def chart(values: list[float | None], percent: bool = False) -> Chart:
    labels = [f"w{i}" for i in range(len(values))]
    return Chart("c", "Title <&>", "How to read it", labels, values, "Week", "Calls", percent)


def test_an_empty_chart_still_has_its_axes_and_says_there_is_no_data() -> None:
    root = ET.fromstring(render(chart([0, 0, 0])))
    assert len(root.findall(f"{SVG}line[@class='axis']")) == 2
    assert root.findall(f"{SVG}rect") == []
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "No transfers in this period" in texts
    assert {"0", "1", "2", "3", "4"} <= set(texts)  # the y axis is drawn with its ticks


def test_a_chart_has_a_title_and_description_for_screen_readers() -> None:
    root = ET.fromstring(render(chart([1, 2])))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-title c-desc"
    assert root.find(f"{SVG}title").text == "Title <&>"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "How to read it"  # type: ignore[union-attr]


def test_each_value_is_a_bar_and_a_missing_rate_draws_none() -> None:
    root = ET.fromstring(render(chart([0.5, None, 0.25], percent=True)))
    bars = root.findall(f"{SVG}rect")
    assert [b.find(f"{SVG}title").text for b in bars] == ["w0: 50 %", "w2: 25 %"]  # type: ignore[union-attr]
    assert float(bars[0].get("height", "0")) == pytest.approx(
        2 * float(bars[1].get("height", "0")), abs=0.2
    )
    assert "No transfers in this period" not in render(chart([0.5, None, 0.25], percent=True))


@pytest.mark.parametrize(
    ("largest", "top"), [(0, 4), (3, 4), (9, 20), (21, 40), (83, 100), (1234, 2000)]
)
def test_the_y_axis_ends_on_a_round_number_with_whole_gridlines(largest: float, top: float) -> None:
    assert nice_top(largest) == top
    assert (top / 4).is_integer()
