"""A Twilio-compatible carrier simulator for end-to-end tests, demos and transfer drills.

    from carrier_sim import Simulator, load_scenario

    sim = Simulator(app=wsgi_app, auth_token="...")        # or base_url="http://..."
    timeline = sim.run(load_scenario("scenarios/sim-happy-path.yaml"))
    assert timeline.longest_without_human("caller", since=10) < 30

See docs/simulator.md for what is simulated and what is not.
"""

from carrier_sim.scenario import Scenario, ScenarioError, load_scenario, scenario_from_dict
from carrier_sim.simulator import Simulator
from carrier_sim.timeline import Timeline

__all__ = [
    "Scenario",
    "ScenarioError",
    "Simulator",
    "Timeline",
    "load_scenario",
    "scenario_from_dict",
]
