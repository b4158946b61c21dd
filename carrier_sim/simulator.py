"""The simulator's front door: plays a scenario against an application and returns a timeline.

    sim = Simulator(app=create_app(...), auth_token="...")      # in process, virtual clock
    client = sim.twilio_client()   # give this to the app under test
    timeline = sim.run(load_scenario("scenarios/sim-happy-path.yaml"))

or against a running gateway over HTTP, with the REST API served on a local port:

    with Simulator(base_url="http://127.0.0.1:8000", auth_token="...") as sim:
        sim.serve_api(port=8765)    # the gateway's TWILIO_API_BASE_URL
        timeline = sim.run(scenario)
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from types import TracebackType
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from werkzeug.datastructures import MultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.test import Client as WsgiClient

from carrier_sim.clock import Scheduler
from carrier_sim.engine import Engine, EngineConfig
from carrier_sim.load import DEFAULT_WORKERS, LoadRun, Overhead
from carrier_sim.rest import create_rest_app
from carrier_sim.scenario import Caller, Scenario
from carrier_sim.sender import ProcessTransport
from carrier_sim.timeline import Timeline
from carrier_sim.webhooks import HttpTransport, Transport, WebhookClient, WsgiTransport
from gateway.telephony import build_client, rewrite_url

DEFAULT_ACCOUNT_SID = "AC" + "5ab1e" * 6 + "00"
IN_PROCESS_API = "http://api.twilio.sim"
IN_PROCESS_APP = "https://gateway.test"
# On the real clock, how long an idle run waits for the application to create new calls.
REALTIME_IDLE_GRACE = 2.0
# On the virtual clock over HTTP, how long the simulator lets a running application go on
# working after a webhook or REST request before time jumps on: an application may place
# its REST requests once its response is out (the gateway does), and real time would give
# it those milliseconds. An in-process application finishes inside the request instead.
HTTP_SETTLE_S = 0.1


class Simulator:
    """A local Twilio: REST API, TwiML interpreter, webhooks and scripted parties.

    Args:
        app: the WSGI application under test, called in process.
        base_url: the URL of a running application, called over HTTP (instead of `app`).
        auth_token: the account's auth token: signs webhooks and guards the REST API.
        account_sid: the account SID the application uses.
        clock: "virtual" (time jumps from event to event) or "real".
        public_url: for an in-process app, the URL it believes it is served at.
        idle_grace: on the real clock, how long an idle run waits for the application to
            create new calls before it ends.
        settle_s: on the virtual clock over HTTP, how long to let the application work
            after each exchange before time jumps on (HTTP_SETTLE_S).
    """

    def __init__(
        self,
        app: Callable[..., Any] | None = None,
        base_url: str | None = None,
        *,
        auth_token: str,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        clock: str = "virtual",
        public_url: str = IN_PROCESS_APP,
        idle_grace: float = REALTIME_IDLE_GRACE,
        settle_s: float = HTTP_SETTLE_S,
    ) -> None:
        if (app is None) == (base_url is None):
            raise ValueError("give exactly one of app (in process) or base_url (over HTTP)")
        if clock not in {"virtual", "real"}:
            raise ValueError("clock is 'virtual' or 'real'")
        self.app_url = (base_url or public_url).rstrip("/")
        self.transport: Transport = (
            WsgiTransport(app, self.app_url) if app is not None else HttpTransport()
        )
        self.auth_token, self.account_sid, self.clock = auth_token, account_sid, clock
        self.idle_grace = idle_grace
        over_http = isinstance(self.transport, HttpTransport)
        self.settle_s = settle_s if clock == "virtual" and over_http else 0.0
        self.engine = self._new_engine(Scenario("idle", Caller("+12025550100", "+12025550101")))
        self.rest_app = create_rest_app(lambda: self.engine, account_sid, auth_token)
        self._server: BaseWSGIServer | None = None
        # How long each request to the served REST API took to handle (list.append is atomic).
        self.rest_seconds: list[float] = []
        self._server_thread: threading.Thread | None = None

    def _new_engine(
        self,
        scenario: Scenario,
        executor: Executor | None = None,
        transport: Transport | None = None,
    ) -> Engine:
        config = EngineConfig(self.account_sid, self.app_url, scenario)
        scheduler = Scheduler(realtime=self.clock == "real", settle_s=self.settle_s)
        webhooks = WebhookClient(
            transport or self.transport, self.auth_token, on_answer=scheduler.touch
        )
        return Engine(config, scheduler, webhooks, executor)

    # The REST API -----------------------------------------------------------------------

    def http_client(self) -> HttpClient:
        """A twilio HttpClient that dispatches straight into the REST app (no socket)."""
        return WsgiHttpClient(self.rest_app)

    def twilio_client(self) -> Client:
        """The official twilio client, built by gateway.telephony, wired to this simulator."""
        if self._server is not None:
            return build_client(self.account_sid, self.auth_token, self.api_base_url)
        return build_client(self.account_sid, self.auth_token, http_client=self.http_client())

    @property
    def api_base_url(self) -> str:
        """Where the REST API is served (TWILIO_API_BASE_URL for the application)."""
        if self._server is None:
            return IN_PROCESS_API
        return f"http://{self._server.host}:{self._server.port}"

    def serve_api(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the REST API over HTTP in a background thread; returns its base URL."""
        self._server = make_server(
            host, port, self._timed_rest, threaded=True, request_handler=_QuietHandler
        )
        self._server_thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._server_thread.start()
        return self.api_base_url

    def _timed_rest(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """The REST app as served over HTTP, timing each request (see `rest_seconds`)."""
        started = time.perf_counter()
        result = self.rest_app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        self.rest_seconds.append(time.perf_counter() - started)
        return [body]

    def close(self) -> None:
        """Stop the REST API server, if one was started."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # Running ----------------------------------------------------------------------------

    def run(self, scenario: Scenario) -> Timeline:
        """Play `scenario` to the end (or to its max_duration) and return the timeline."""
        engine = self._new_engine(scenario)
        self.engine = engine
        caller = scenario.caller

        def ring() -> None:
            engine.legs.start_inbound(caller)

        engine.scheduler.call_at(caller.at, ring, "inbound")
        for forgery in scenario.forgeries:
            engine.scheduler.call_at(
                forgery.at, partial(engine.http.forge, forgery, caller.name), "forgery"
            )
        self._drive(engine, scenario.max_duration)
        with engine.lock:
            return engine.finish()

    def run_many(
        self,
        scenario: Scenario,
        count: int,
        stagger_s: float = 0.0,
        *,
        vary: Callable[[int, Caller], Caller] | None = None,
        workers: int = DEFAULT_WORKERS,
        sender_process: bool = True,
    ) -> LoadRun:
        """Play `count` copies of the scenario's inbound call at once (load mode).

        Call i (from 0) arrives at `caller.at + i * stagger_s`, as party `caller-NNN`, with
        the scenario's actions timed from its own arrival. All calls share the scenario's
        lines. On the real clock against an HTTP application, webhooks go out from a pool
        of `workers` threads, so the application sees them concurrently, and are sent and
        timed by a child process of their own (carrier_sim/sender.py), so the simulator's
        own work does not count as the application's response time (`sender_process=False`
        sends them from the pool threads themselves, to measure what that changes);
        otherwise they are sent one at a time, as `run` does. The run lasts until every
        call is over (or `max_duration` after the first call arrives). `vary(i, caller)`
        may give copy i a caller of its own, e.g. with its own SIP headers
        (`dataclasses.replace`).

        Returns:
            The combined timeline, the callers' names and the simulator's own overhead.
        """
        if count < 1:
            raise ValueError("count must be at least 1")
        if stagger_s < 0:
            raise ValueError("stagger_s must not be negative")
        concurrent = self.clock == "real" and isinstance(self.transport, HttpTransport)
        executor, sender = None, None
        if concurrent:
            executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-webhook")
        width = max(3, len(str(count)))
        callers = [f"caller-{i + 1:0{width}d}" for i in range(count)]
        try:
            if concurrent and sender_process:
                sender = ProcessTransport(workers)
            engine = self._new_engine(scenario, executor, sender)
            self.engine = engine
            caller = scenario.caller
            for i, party in enumerate(callers):
                copy = vary(i, caller) if vary is not None else caller

                def ring(party: str = party, copy: Caller = copy) -> None:
                    engine.legs.start_inbound(copy, party)

                engine.scheduler.call_at(caller.at + i * stagger_s, ring, "inbound")
            overhead = self._drive(engine, scenario.max_duration + (count - 1) * stagger_s)
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            if sender is not None:
                sender.close()
        overhead.send_waits_s = list(engine.send_waits)
        overhead.sender_cpu_s = sender.cpu_s if sender is not None else 0.0
        with engine.lock:
            timeline = engine.finish()
        return LoadRun(timeline, callers, overhead)

    def _drive(self, engine: Engine, until: float) -> Overhead:
        """Run the engine's events up to `until`; measures the loop as it goes."""
        grace = self.idle_grace if self.clock == "real" else 0.0
        overhead = Overhead()
        started, cpu, loop_cpu = time.perf_counter(), time.process_time(), time.thread_time()
        scheduler = engine.scheduler
        while True:
            timer = scheduler.next_due(until, grace)
            if timer is None:
                # Answers still on their way from the application belong to this run.
                if engine.in_flight and scheduler.now() < until:
                    time.sleep(0.001)  # the answer's call_soon wakes next_due
                    continue
                break
            if scheduler.realtime:
                overhead.lags_s.append(max(0.0, scheduler.now() - timer.when))
            with engine.lock:
                timer.action()
        overhead.wall_s = time.perf_counter() - started
        overhead.cpu_s = time.process_time() - cpu
        overhead.loop_cpu_s = time.thread_time() - loop_cpu
        return overhead


class _QuietHandler(WSGIRequestHandler):
    """Serves the REST API without a log line per request (a load run makes thousands),
    over HTTP/1.1 so a client's connection is kept between requests, as api.twilio.com
    keeps it (every answer of the REST app has a Content-Length)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Requests are in the timeline already."""


class WsgiHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type information
    """Carries the twilio client's requests into a WSGI app in the same process.

    Args:
        app: the simulator's REST app.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        super().__init__(logger=None, is_async=False)
        self.client = WsgiClient(app)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Dispatch one request and wrap the answer as twilio's Response."""
        target = rewrite_url(url, IN_PROCESS_API)
        sent_headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            sent_headers["Authorization"] = f"Basic {token}"
        response = self.client.open(
            target.removeprefix(IN_PROCESS_API),
            base_url=IN_PROCESS_API,
            method=method,
            query_string={k: str(v) for k, v in (params or {}).items()},
            data=_form(data),
            headers=sent_headers,
        )
        return Response(
            response.status_code, response.get_data(as_text=True), dict(response.headers)
        )


def _form(data: dict[str, object] | None) -> MultiDict[str, str]:
    """The twilio client's body as a form; lists become repeated keys, as requests does."""
    pairs: list[tuple[str, str]] = []
    for key, value in (data or {}).items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((key, str(item)) for item in values)
    return MultiDict(pairs)
