"""Scenario files are validated when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from carrier_sim.scenario import ScenarioError, load_scenario, scenario_from_dict

CALLER = {"from": "+17855550101", "to": "+17855550150"}


def test_a_line_can_behave_differently_on_each_attempt(tmp_path: Path) -> None:
    path = tmp_path / "busy-once.yaml"
    path.write_text(
        "name: busy once\n"
        "caller: {from: '+17855550101', to: '+17855550150'}\n"
        "lines:\n"
        "  - number: '+17855550190'\n"
        "    name: psap\n"
        "    attempts: [busy, {answer: 2, actions: [{at: 1, press: '1'}]}]\n",
        encoding="utf-8",
    )
    line = load_scenario(path).lines[0]

    assert [line.attempt(i).outcome for i in range(3)] == ["busy", "answer", "answer"]
    assert line.attempt(1).actions[0].press == "1"


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"caller": {**CALLER, "from": "911"}}, "not an E.164"),
        ({"caller": {**CALLER, "sip_headers": {"P-Asserted-Identity": "x"}}}, "only X- headers"),
        (
            {"caller": CALLER, "lines": [{"number": "+17855550160", "outcome": "sleeps"}]},
            "is not one of",
        ),
        (
            {
                "caller": CALLER,
                "lines": [
                    {
                        "number": "+17855550160",
                        "outcome": "busy",
                        "actions": [{"at": 1, "press": "1"}],
                    }
                ],
            },
            "only a person",
        ),
        (
            {"caller": {**CALLER, "actions": [{"at": 1, "press": "1", "hangup": True}]}},
            "exactly one",
        ),
        ({"caller": CALLER, "speed": 2}, "unknown keys"),
    ],
)
def test_invalid_scenarios_are_refused_with_the_reason(
    data: dict[str, object], problem: str
) -> None:
    with pytest.raises(ScenarioError, match=problem):
        scenario_from_dict(data)


def test_the_shipped_scenarios_load() -> None:
    paths = sorted(Path("scenarios").glob("sim-*.yaml"))

    assert paths
    for path in paths:
        assert load_scenario(path).caller.from_.startswith("+1")


def test_a_forgery_needs_an_application_path_and_a_known_signature_kind() -> None:
    from carrier_sim.scenario import ScenarioError, scenario_from_dict

    base = {"caller": {"from": "+19135550120", "to": "+19135550150"}}
    with pytest.raises(ScenarioError, match=r"forgeries\[0\]\.path"):
        scenario_from_dict({**base, "forgeries": [{"at": 1, "path": "voice"}]})
    with pytest.raises(ScenarioError, match=r"forgeries\[0\]\.signature: wrong or missing"):
        scenario_from_dict({**base, "forgeries": [{"at": 1, "path": "/v", "signature": "x"}]})
    plan = scenario_from_dict({**base, "forgeries": [{"at": 1, "path": "/voice/status"}]})
    assert plan.forgeries[0].signature == "wrong"
