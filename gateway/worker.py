"""The RQ worker as the Procfile runs it: `python -m gateway.worker [rq worker options]`.

`TracedWorker` is rq's SimpleWorker (each job in the worker's own process) that logs one
JSON line per job, with the id of the web request that enqueued it (job.meta, see
gateway.adapters.traced), and holds that id while the job runs, so the job's own log lines
carry it too.

rq's CLI builds its Redis connection as `<--connection-class>.from_url(--url)`, and
redis-py's own `from_url` does not read a `redis+sentinel://` URL: the Procfile passes
`--connection-class gateway.worker.GatewayRedis`, which builds it with the gateway's one
client factory, so the worker (and its scheduler) follow a Sentinel failover too.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence

import redis
from rq.job import Job
from rq.queue import Queue
from rq.worker import SimpleWorker

from gateway.adapters.connections import QUEUE, redis_client
from gateway.adapters.traced import META_REQUEST_ID
from gateway.checks import refuse_to_start_on_errors
from gateway.settings import Settings
from gateway.tracing import REQUEST_ID, configure_logging

log = logging.getLogger("gateway.worker")


class TracedWorker(SimpleWorker):
    """SimpleWorker that logs each job with the request id it was enqueued under."""

    def execute_job(self, job: Job, queue: Queue) -> None:
        token = REQUEST_ID.set((job.meta or {}).get(META_REQUEST_ID))
        started = time.perf_counter()
        try:
            super().execute_job(job, queue)
        finally:
            fields = {
                "request_id": REQUEST_ID.get(),
                "job_id": job.id,
                "job": job.func_name,
                "queue": queue.name,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            log.info("job", extra={"fields": fields})
            REQUEST_ID.reset(token)


class GatewayRedis:
    """What rq's CLI builds its connection with (`--connection-class`): see the module."""

    @staticmethod
    def from_url(url: str) -> redis.Redis:
        # rq raises the socket timeout itself above its blocking dequeue's.
        return redis_client(url, QUEUE)


def wait_for_redis(url: str, most_s: float = 10.0) -> None:
    """Wait until Redis answers (rq's worker exits at once without it), trying again
    every 1, 2, 4 ... up to `most_s` seconds: a worker started before Redis is up runs
    as soon as it is, with no supervisor's restart loop."""
    client = redis_client(url)
    pause = 1.0
    while True:
        try:
            client.ping()
            return
        except (redis.RedisError, OSError) as exc:
            fields = {"retry_in_s": pause, "error": type(exc).__name__}
            log.warning("waiting for Redis", extra={"fields": fields})
        time.sleep(pause)
        pause = min(pause * 2, most_s)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `rq worker` with the given options, logging as JSON; exits with rq's status.

    It refuses to start on configuration errors, as the web process does (gateway.checks).
    """
    from rq.cli.cli import main as rq_main

    refuse_to_start_on_errors(os.environ, "worker")
    configure_logging()
    wait_for_redis(Settings.from_env().redis_url)
    args = list(sys.argv[1:] if argv is None else argv)
    rq_main(args=["worker", *args], prog_name="rq")


if __name__ == "__main__":
    main()
