"""A forked child keeps bucketing and exporting."""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter

from otel_mlbucket import BucketSpec, configure
from otel_mlbucket import attributes as attr

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

WAIT_SECONDS = 60
CHILD_LOGGER = "fork.app"


def _read_all(fd: int, pid: int) -> bytes:
    """Read the child's pipe to its end; kill the child if it hangs."""
    chunks = []
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"the forked child (pid {pid}) hung for {WAIT_SECONDS} s")
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _run_in_child(body: Callable[[], Any]) -> tuple[int, Any]:
    """Run body in a forked child; return its pid and its JSON-encoded result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 1
        try:
            payload = {"result": body()}
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            payload = {"error": repr(exc)}
        try:
            os.write(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(code)

    os.close(write_fd)
    try:
        data = _read_all(read_fd, pid)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    payload = json.loads(data or b"{}")
    assert "error" not in payload, payload.get("error")
    assert os.waitstatus_to_exitcode(status) == 0
    return pid, payload["result"]


@pytest.fixture
def built_over_http(http_receiver, otlp_env):
    receiver, endpoint = http_receiver
    otlp_env(endpoint, "http/protobuf")
    built = configure(
        "fork-test",
        attach_to=CHILD_LOGGER,
        set_global=False,
        schedule_delay_millis=60_000,
    )
    yield built, receiver
    built.shutdown()


def test_child_buckets_and_exports(built_over_http):
    built, receiver = built_over_http
    logger = logging.getLogger(CHILD_LOGGER)
    logger.info("parent before fork", extra={attr.MODEL_VERSION: "parent"})
    built.force_flush()
    receiver.wait_for(1)

    def child():
        for index in range(3):
            logger.error(
                "child record",
                extra={
                    attr.MODEL_VERSION: f"c{index}",
                    attr.EXCEPTION_TYPE: "OSError",
                    "test.pid": os.getpid(),
                },
            )
        built.force_flush()
        return built.stats()["records_bucketed"]

    child_pid, child_bucketed = _run_in_child(child)
    logger.info("parent after fork")
    built.force_flush()
    rows = receiver.wait_for(5)

    child_rows = [row for row in rows if row["body"] == "child record"]
    assert child_bucketed == 4
    assert len(rows) == 5
    assert sorted(r["resource"]["ml.bucket.model_version"] for r in child_rows) == [
        "c0",
        "c1",
        "c2",
    ]
    for row in child_rows:
        assert row["resource"]["ml.bucket.team"] == "infrastructure"
        assert row["attributes"]["test.pid"] == child_pid
    assert built.stats()["records_bucketed"] == 2


def test_child_with_locks_held_at_fork():
    spec = BucketSpec.default().source
    spec["dimensions"]["model_version"]["max_distinct"] = 1
    exporter = InMemoryLogRecordExporter()
    built = configure(
        "fork-locks",
        spec=BucketSpec.from_dict(spec),
        exporters=[exporter],
        attach_to=None,
        set_global=False,
    )
    passthrough = built.processor.spec.dimension_of("model_version")
    stats = built.processor.spec.stats
    held = threading.Event()
    release = threading.Event()

    def hold_locks():
        with passthrough._lock, stats._lock:
            held.set()
            release.wait(WAIT_SECONDS)

    holder = threading.Thread(target=hold_locks)
    holder.start()
    assert held.wait(WAIT_SECONDS)

    def child():
        logger = built.logger_provider.get_logger("child")
        for version in ("a", "b", "b", "c"):
            logger.emit(body="x", attributes={attr.MODEL_VERSION: version})
        built.force_flush()
        return [
            r.resource.attributes["ml.bucket.model_version"]
            for r in exporter.get_finished_logs()
        ]

    try:
        _, versions = _run_in_child(child)
    finally:
        release.set()
        holder.join()
        built.shutdown()

    assert versions == ["a", "other", "other", "other"]
