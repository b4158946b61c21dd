"""The gateway app as the Procfile builds it, pointed at a given Redis and store.

Twilio's REST API is an address that refuses connections; events and records go to memory,
so a test sees them without a worker.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from twilio.request_validator import RequestValidator

from gateway.adapters.records import MemoryRecorder
from gateway.adapters.store.db import create_store_engine
from gateway.adapters.store.schema import migrate
from gateway.app import create_app, redis_client
from gateway.domain.events import MemorySink
from gateway.services.escalation import Watchdog
from gateway.settings import FlowConfig, Settings
from gateway.telephony import build_client
from routing.engine import Router

AUTH_TOKEN = "ops-test-token-0123456789abcdef"
PUBLIC_URL = "https://gateway.test"
PSAP_KEY = "ops-wyandotte-key-0123456789"
CENTER_KEY = "ops-kc-kansas-center-key-01"
ANALYST_KEY = "ops-analyst-key-0123456789"
ACCOUNT_SID = "AC" + "0" * 32
# A port nothing listens on: Redis "down", or Twilio's REST API refusing every call.
DOWN_REDIS_URL = "redis://127.0.0.1:1/0"
NOWHERE = "http://127.0.0.1:1"


def migrated_sqlite(folder: Path) -> str:
    """The URL of a migrated SQLite store in `folder`."""
    url = f"sqlite:///{folder / 'store.sqlite3'}"
    engine = create_store_engine(url)
    migrate(engine)
    engine.dispose()
    return url


def ops_app(router: Router, redis_url: str, database_url: str) -> tuple[Flask, MemorySink]:
    """The app, wired to `redis_url` and `database_url`, and the sink its events go to.

    Its REST calls to Twilio are refused at once (NOWHERE): the flow's recovery paths run.
    """
    settings = Settings(
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_URL,
        redis_url=redis_url,
        database_url=database_url,
        after_response_threads=0,
        analyst_api_keys=(ANALYST_KEY,),
    )
    flow = FlowConfig(
        gateway_number="+19135550150",
        psap_api_keys={PSAP_KEY: "wyandotte-911"},
        center_api_keys={CENTER_KEY: "kc-kansas"},
    )
    sink = MemorySink()
    app = create_app(
        settings,
        router=router,
        twilio_client=build_client(ACCOUNT_SID, AUTH_TOKEN, NOWHERE),
        event_sink=sink,
        redis=redis_client(redis_url),
        flow=flow,
        watchdog=Watchdog(None),
        recorder=MemoryRecorder(settings),
    )
    return app, sink


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    """The X-Twilio-Signature header Twilio would send for a POST of `params` to `path`."""
    signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL + path, params)
    return {"X-Twilio-Signature": signature}
