"""Webhooks sent from a process of their own: the transport of a load run over HTTP.

In a load run the simulator is also the load generator. One Python process runs the
engine, the REST API the application calls and the threads that send webhooks, and the
GIL lets one of them run at a time. A sending thread whose answer had arrived waited for
the others (the REST API handling the application's requests, the engine updating its
calls) before it could read the answer and stop its clock, and that wait counted as the
application's response time. In the 100-call benchmark here, alternating run after run,
webhook p99 was 18.5-20.7 ms sent from the simulator's threads and 16.9-18.2 ms from this
process (docs/benchmarks.md, "Load generator"), although the extra process made the
gateway's own handling slightly slower. Twilio's own sender adds nothing of the kind.

So `ProcessTransport` hands each request to a child process that does nothing but send
them, with `HttpTransport` on a pool of threads, and times each exchange there. The
simulator's thread waits for the result as before; only the timing moved. Requests and
results cross the child's stdin and stdout as one JSON document per line.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from carrier_sim.webhooks import HTTP_RETRIEVAL_FAILURE, HTTP_TIMEOUT, HttpResult, HttpTransport

ROOT = Path(__file__).resolve().parents[2]
# A result that has not come back this long after Twilio's own limits never will.
MARGIN_S = 5.0
# How long close() waits for requests still in flight (Twilio's read limit is 15 s).
READ_GRACE_S = 20.0
CHILD_START = "from carrier_sim.sender import serve; serve()"


class ProcessTransport:
    """Sends requests from a child process (see the module's docstring); thread-safe.

    Args:
        threads: requests the child has in flight at most (its sending threads).
    """

    def __init__(self, threads: int) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-c", CHILD_START, str(threads)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._write_lock = threading.Lock()
        self._pending: dict[int, Future[HttpResult]] = {}
        self._next_id = 0
        self._gone = ""  # why the child can take no more requests, once it cannot
        self.cpu_s = 0.0  # the child's CPU seconds, known once it is closed
        self._await_ready()
        self._reader = threading.Thread(target=self._read, name="sim-sender-reader", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._child.pid

    def send(
        self,
        method: str,
        url: str,
        form: Mapping[str, str],
        headers: Mapping[str, str],
        timeouts: tuple[float, float],
    ) -> HttpResult:
        """Send through the child; a child that is gone or silent gives Twilio's errors."""
        started = time.monotonic()
        future: Future[HttpResult] = Future()
        line: dict[str, object] = {
            "method": method,
            "url": url,
            "form": dict(form),
            "headers": dict(headers),
            "timeouts": list(timeouts),
        }
        with self._write_lock:
            if self._gone:
                return _failed(started, HTTP_RETRIEVAL_FAILURE, self._gone)
            self._next_id += 1
            line["id"] = self._next_id
            self._pending[self._next_id] = future
            try:
                _write_line(self._stdin(), line)
            except OSError as exc:
                self._pending.pop(self._next_id, None)
                self._gone = f"the webhook sender process is gone: {exc}"
                return _failed(started, HTTP_RETRIEVAL_FAILURE, self._gone)
        limit = sum(timeouts) + MARGIN_S
        try:
            result = future.result(timeout=limit)
        except TimeoutError:
            with self._write_lock:
                self._pending.pop(int(str(line["id"])), None)
            return _failed(started, HTTP_TIMEOUT, f"the webhook sender gave no result in {limit} s")
        if not result.elapsed:  # failed before the child sent it: the wait is what it took
            result.elapsed = time.monotonic() - started
        return result

    def close(self) -> None:
        """Let the child finish what it was given, then stop it (kill it if it hangs).

        Closing twice does nothing more.
        """
        with self._write_lock:
            if self._child.stdin is None or self._child.stdin.closed:
                return
            self._gone = self._gone or "the webhook sender was closed"
            with contextlib.suppress(OSError):  # a dead child's pipe: nothing more to say
                self._child.stdin.close()
        self.cpu_s = self._reap(time.monotonic() + READ_GRACE_S)
        self._reader.join(timeout=READ_GRACE_S)
        if self._child.stdout is not None:
            self._child.stdout.close()

    def _await_ready(self) -> None:
        """Wait until the child has loaded and can send at once.

        A run's first webhooks would otherwise wait in the pipe while the child imports,
        and the delays the run measures from the simulator's side would include that.
        """
        stdout = self._child.stdout
        first = stdout.readline() if stdout is not None else b""
        if json.loads(first or b"{}").get("ready") is not True:
            self._child.kill()
            self._child.wait()
            raise RuntimeError(f"the webhook sender process did not start: {first!r}")

    def _reap(self, deadline: float) -> float:
        """Wait for the child (killing it at `deadline`); returns its CPU seconds.

        os.wait4 rather than Popen.wait, because it also gives the child's resource use.
        """
        pid = self._child.pid
        while True:
            try:
                reaped, status, usage = os.wait4(pid, os.WNOHANG)
            except ChildProcessError:  # already reaped elsewhere: its figures are gone
                return 0.0
            if reaped == pid:
                self._child.returncode = os.waitstatus_to_exitcode(status)
                return float(usage.ru_utime + usage.ru_stime)
            if time.monotonic() >= deadline:
                self._child.kill()
                deadline = float("inf")
            time.sleep(0.01)

    def _stdin(self) -> IO[bytes]:
        if self._child.stdin is None:  # pragma: no cover - Popen was given stdin=PIPE
            raise OSError("no pipe to the child")
        return self._child.stdin

    def _read(self) -> None:
        """Hand each result to the thread waiting for it; fail the rest if the child ends."""
        stdout = self._child.stdout
        try:
            for raw in stdout if stdout is not None else ():
                message = json.loads(raw)
                with self._write_lock:
                    future = self._pending.pop(int(message.pop("id")), None)
                if future is not None:
                    future.set_result(HttpResult(**message))
        finally:
            self._fail_pending()

    def _fail_pending(self) -> None:
        with self._write_lock:
            self._gone = self._gone or "the webhook sender process exited"
            orphans, self._pending = self._pending, {}
        for future in orphans.values():
            future.set_result(HttpResult(0, error_code=HTTP_RETRIEVAL_FAILURE, error=self._gone))


def _failed(started: float, code: int, error: str) -> HttpResult:
    return HttpResult(0, elapsed=time.monotonic() - started, error_code=code, error=error)


def _write_line(stream: IO[bytes], message: Mapping[str, Any]) -> None:
    stream.write(json.dumps(message).encode() + b"\n")
    stream.flush()


def serve() -> None:
    """The child: read requests from stdin, send each on a thread, write results to stdout.

    Ends when stdin closes, once every request it read has its result written.
    """
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    transport = HttpTransport()
    out = sys.stdout.buffer
    lock = threading.Lock()

    def exchange(request: dict[str, Any]) -> None:
        try:
            result = transport.send(
                request["method"],
                request["url"],
                request["form"],
                request["headers"],
                (float(request["timeouts"][0]), float(request["timeouts"][1])),
            )
        except Exception as exc:  # the parent must get an answer for every request
            result = HttpResult(0, error_code=HTTP_RETRIEVAL_FAILURE, error=repr(exc))
        with lock:
            _write_line(out, {"id": request["id"], **asdict(result)})

    _write_line(out, {"ready": True})
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="sender") as pool:
        for raw in sys.stdin.buffer:
            pool.submit(exchange, json.loads(raw))
