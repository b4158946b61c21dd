"""The Procfile's processes, started for real on loopback, and stopped by the test."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

from gateway.demo import procfile
from tests.ops.apps import ACCOUNT_SID, AUTH_TOKEN, NOWHERE, PSAP_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# A Fernet key for these tests only (32 bytes, url-safe base64).
OPS_ENCRYPTION_KEY = "b3BzLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMDE="


def gateway_env(redis_url: str, database_url: str, **extra: str) -> dict[str, str]:
    """A production-like environment: every setting a process needs to start."""
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_BASE_URL": NOWHERE,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "PSAP_API_KEYS": f"wyandotte-911:{PSAP_KEY}",
        "CALLER_HASH_KEY": "ops-test-caller-hash-key",
        "ENCRYPTION_KEY": OPS_ENCRYPTION_KEY,
        **extra,
    }


def run_procfile(process: str, env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start one Procfile process as a platform does (a shell runs its command line); its
    output goes to `log` (a pipe nobody reads would fill up and stop it)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            ["bash", "-c", f"exec {procfile()[process]}"],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def web_process(env: Mapping[str, str], log: Path, workers: int = 2) -> Iterator[str]:
    """The Procfile's `web` on a free loopback port; yields its base URL once it answers."""
    port = free_port()
    env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
    server = run_procfile("web", env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        yield url
    finally:
        stop(server)


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = log.read_text(errors="replace")
            raise RuntimeError(f"web exited with {server.returncode}:\n{output}")
        try:
            requests.get(f"{url}/healthz", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError(f"web did not answer within {START_TIMEOUT_S} s")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)
