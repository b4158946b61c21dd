"""The Flask app factory: `create_app()` for gunicorn, `create_app(settings, ...)` for tests.

Nothing is read at import time. Collaborators (router, Twilio client, event sink, Redis)
are built from the settings unless given, so tests plug the carrier simulator and a real
Redis in at their seams:

    gunicorn 'gateway.app:create_app()'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import redis as redis_lib
from flask import Flask
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.adapters.connections import redis_client
from gateway.adapters.drills import DrillMarker
from gateway.adapters.live_state import CodeTries, TransferStore
from gateway.adapters.queueing import event_queue, redis_connection
from gateway.adapters.records import RQRecorder, TransferRecorder
from gateway.adapters.spool import SpoolingSink
from gateway.adapters.store.privacy import Cipher
from gateway.adapters.traced import ActivityLog
from gateway.adapters.twiml import Links
from gateway.adapters.watchdog import Watchdog, escalation_queue
from gateway.domain.events import EventSink
from gateway.services.dialing import utc_now
from gateway.services.escalation import Escalations
from gateway.services.transfers import TransferService
from gateway.settings import FlowConfig, Settings, SettingsError
from gateway.tables import web as tables_web
from gateway.telephony import Telephony, build_client
from gateway.web import (
    api,
    errors,
    health,
    limits,
    pages,
    reports_api,
    reports_page,
    request_log,
    voice,
)
from gateway.web.afterwards import AfterResponse
from gateway.web.context import EXTENSION, Gateway
from gateway.web.reports_page import psap_zones
from routing.engine import Router

if TYPE_CHECKING:
    from carrier_sim.simulator import Simulator


def create_app(
    settings: Settings | None = None,
    *,
    router: Router | None = None,
    twilio_client: Client | None = None,
    event_sink: EventSink | None = None,
    redis: redis_lib.Redis | None = None,
    flow: FlowConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    watchdog: Watchdog | None = None,
    recorder: TransferRecorder | None = None,
) -> Flask:
    """Build the gateway's WSGI app.

    Args:
        settings: typed settings; read from the environment when None.
        router: the routing core; loaded from settings.tables_dir when None.
        twilio_client: the Twilio REST client; built by gateway.telephony when None.
        event_sink: where transfer events go; the RQ queue the outcome-store worker
            drains, through the local spool for what Redis will not take
            (gateway.adapters.spool.SpoolingSink), when None.
        redis: the live-state Redis; from settings.redis_url when None.
        flow: call-flow settings (gateway number, API keys); settings.flow when None.
        clock: the current time (tests pass the simulator's virtual clock).
        recorder: where each transfer's protected record goes; queued for the store's
            worker (gateway.adapters.records.RQRecorder) when None.
        watchdog: schedules escalation watchdog jobs; on the "escalations" RQ queue of the
            live-state Redis when None.

    Raises:
        SettingsError: no Twilio auth token (webhook signatures could not be checked).
    """
    settings = settings or Settings.from_env()
    if not settings.twilio_auth_token:
        raise SettingsError("TWILIO_AUTH_TOKEN is required: it checks every webhook")
    redis = redis or redis_client(settings.redis_url)
    app = Flask(__name__)
    request_log.init_app(app)
    limits.init_app(app)
    errors.init_app(app)
    # Twilio signs the public URL; behind a proxy, rebuild it from X-Forwarded-*.
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1
    )
    # The views first: the service builds its webhook URLs from their rules.
    app.register_blueprint(api.bp)
    app.register_blueprint(voice.bp)
    # Reports, the CSV export and /metrics read the outcome store (analyst key required).
    reports_api.init_app(app, settings, zones=lambda: psap_zones(service.router.tables))
    app.register_blueprint(reports_api.bp)
    app.register_blueprint(reports_page.bp)
    app.register_blueprint(pages.bp)
    sink = event_sink
    if sink is None:
        sink = SpoolingSink(event_queue(redis_connection(settings)), Path(settings.event_spool_dir))
        app.extensions["event_spool"] = sink  # replayed on a timer by gateway.serving
    service = TransferService(
        router=router or _router(settings),
        telephony=Telephony(twilio_client or _twilio(settings)),
        sink=ActivityLog(DrillMarker(sink) if settings.drill else sink),
        store=TransferStore(redis),
        flow=flow or settings.flow,
        links=Links(settings.public_base_url, app.url_map),
        deadline_s=settings.transfer_deadline_s,
        clock=clock or utc_now,
        recorder=recorder or RQRecorder(settings, event_queue(redis_connection(settings))),
        after=AfterResponse(settings.after_response_threads),
        cipher=Cipher.from_settings(settings),
        # Keyed by the caller-hash key when there is one, else by the auth token every
        # deployment has: either way a secret, never the clear number.
        code_tries=CodeTries(redis, settings.caller_hash_key or settings.twilio_auth_token),
    )
    watchdog = watchdog or Watchdog(escalation_queue(redis))
    service.watch = watchdog.schedule
    app.extensions[EXTENSION] = Gateway(
        service,
        RequestValidator(settings.twilio_auth_token),
        service.flow,
        Escalations(service, watchdog),
    )
    engine = app.extensions[reports_api.EXTENSION].engine
    health.init_app(app, health.Probes(redis, engine, lambda: service.router.tables.version))
    # Published routing table versions, /api/v1/tables and /admin.
    tables_web.init_app(app, settings, service.router)
    return app


def _router(settings: Settings) -> Router:
    # The active published version (ROUTING_TABLES imported as the first one), followed
    # live from then on (issue 12).
    from gateway.tables.startup import start_router

    return start_router(settings, follow=True)


def _twilio(settings: Settings) -> Client:
    if not settings.twilio_account_sid:
        raise SettingsError("TWILIO_ACCOUNT_SID is required")
    return build_client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_base_url or None,
    )


def simulator_app(sim: Simulator) -> Flask:
    """The gateway wired to an in-process carrier simulator (`gateway simulate --app`).

    Settings come from the environment (Redis, routing tables, PSAP keys), except what the
    simulator dictates: its account, auth token, public URL, REST client and virtual clock.
    Escalations are carried by status callbacks alone (no watchdog jobs).
    """
    settings = replace(
        Settings.from_env(),
        twilio_account_sid=sim.account_sid,
        twilio_auth_token=sim.auth_token,
        public_base_url=sim.app_url,
        after_response_threads=0,  # in process: done before the virtual clock moves on
        drill=True,  # a simulated call is a drill: reports leave it out
    )

    def virtual_now() -> datetime:
        return sim.engine.config.epoch + timedelta(seconds=sim.engine.now())

    # No watchdog: a worker's own app could not reach an in-process simulator's calls.
    return create_app(
        settings,
        twilio_client=sim.twilio_client(),
        clock=virtual_now,
        watchdog=Watchdog(None),
    )
