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
from typing import TYPE_CHECKING

import redis as redis_lib
from flask import Flask
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from werkzeug.middleware.proxy_fix import ProxyFix

from gateway.adapters.live_state import TransferStore
from gateway.adapters.queueing import RQSink, event_queue, redis_connection
from gateway.adapters.records import RQRecorder, TransferRecorder
from gateway.adapters.store.privacy import Cipher
from gateway.adapters.traced import ActivityLog
from gateway.adapters.twiml import Links
from gateway.domain.events import EventSink
from gateway.services import escalation
from gateway.services.transfers import TransferService, utc_now
from gateway.settings import FlowConfig, Settings, SettingsError
from gateway.telephony import build_client
from gateway.web import api, errors, health, limits, pages, reports_api, request_log, voice
from gateway.web.afterwards import AfterResponse
from gateway.web.context import EXTENSION, Gateway
from routing.engine import Router

if TYPE_CHECKING:
    from carrier_sim.simulator import Simulator

# A webhook has 15 s in all; a Redis that does not answer in half a second is treated as
# down, so the caller gets safe TwiML in time instead of Twilio's error message.
REDIS_TIMEOUT_S = 0.5


def create_app(
    settings: Settings | None = None,
    *,
    router: Router | None = None,
    twilio_client: Client | None = None,
    event_sink: EventSink | None = None,
    redis: redis_lib.Redis | None = None,
    flow: FlowConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    watchdog: escalation.Watchdog | None = None,
    recorder: TransferRecorder | None = None,
) -> Flask:
    """Build the gateway's WSGI app.

    Args:
        settings: typed settings; read from the environment when None.
        router: the routing core; loaded from settings.tables_dir when None.
        twilio_client: the Twilio REST client; built by gateway.telephony when None.
        event_sink: where transfer events go; the RQ queue the outcome-store worker
            drains (gateway.adapters.queueing.RQSink) when None.
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
    service = TransferService(
        router=router or _router(settings),
        twilio=twilio_client or _twilio(settings),
        sink=ActivityLog(event_sink or RQSink(event_queue(redis_connection(settings)))),
        store=TransferStore(redis),
        flow=flow or settings.flow,
        links=Links(settings.public_base_url),
        deadline_s=settings.transfer_deadline_s,
        clock=clock or utc_now,
        recorder=recorder or RQRecorder(settings, event_queue(redis_connection(settings))),
        after=AfterResponse(settings.after_response_threads),
        cipher=Cipher.from_settings(settings),
    )
    app = Flask(__name__)
    request_log.init_app(app)
    limits.init_app(app)
    errors.init_app(app)
    # Twilio signs the public URL; behind a proxy, rebuild it from X-Forwarded-*.
    app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
        app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1
    )
    app.extensions[EXTENSION] = Gateway(
        service, RequestValidator(settings.twilio_auth_token), service.flow
    )
    watchdog = watchdog or escalation.Watchdog(escalation.escalation_queue(redis))
    service.watch = watchdog.schedule
    app.extensions[escalation.EXTENSION] = escalation.Escalations(service, watchdog)
    app.register_blueprint(api.bp)
    app.register_blueprint(voice.bp)
    # Reports, the CSV export and /metrics read the outcome store (analyst key required).
    reports_api.init_app(app, settings)
    app.register_blueprint(reports_api.bp)
    app.register_blueprint(pages.bp)
    engine = app.extensions[reports_api.EXTENSION].engine
    health.init_app(app, health.Probes(redis, engine, lambda: service.router.tables.version))
    return app


def _router(settings: Settings) -> Router:
    return Router.from_files(
        settings.tables_dir, settings.county_layer, settings.extra_county_layers
    )


def _twilio(settings: Settings) -> Client:
    if not settings.twilio_account_sid:
        raise SettingsError("TWILIO_ACCOUNT_SID is required")
    return build_client(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_api_base_url or None,
    )


def redis_client(url: str) -> redis_lib.Redis:
    """The live-state Redis client: short timeouts and one quick retry.

    redis-py's default retries with backoff of up to seconds; a webhook has 15 s in all,
    so a Redis that is down must fail fast and let the caller's safe TwiML go out.
    """
    return redis_lib.Redis.from_url(
        url,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
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
    )

    def virtual_now() -> datetime:
        return sim.engine.config.epoch + timedelta(seconds=sim.engine.now())

    # No watchdog: a worker's own app could not reach an in-process simulator's calls.
    return create_app(
        settings,
        twilio_client=sim.twilio_client(),
        clock=virtual_now,
        watchdog=escalation.Watchdog(None),
    )
