"""One-call setup of OpenTelemetry logging with bucketing."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import LogRecordExporter
from opentelemetry.sdk.resources import Resource

from otel_mlbucket._export import CountingBatchLogRecordProcessor, SafeLogRecordExporter
from otel_mlbucket._spec import BucketSpec
from otel_mlbucket._stats import AtomicCounter
from otel_mlbucket.processor import QUIET, BucketingProcessor

try:
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
except ImportError:
    # opentelemetry-instrumentation-logging 0.60b0, released with opentelemetry-sdk
    # 1.39, has no handler module, so the SDK's own LoggingHandler is used. That one
    # also writes code.* attributes and keeps event.name as an attribute.
    from opentelemetry.sdk._logs import LoggingHandler  # type: ignore[assignment]

_logger = logging.getLogger(__name__)

_REPORT_INTERVAL_SECONDS = 60.0

PROTOCOLS = ("grpc", "http/protobuf")
_OWN_LOGGERS = ("otel_mlbucket", "opentelemetry")


def _is_own_logger(name: str) -> bool:
    return any(name == own or name.startswith(own + ".") for own in _OWN_LOGGERS)


class BucketingLoggingHandler(LoggingHandler):
    """The OpenTelemetry logging handler, minus records that would feed back.

    Drops records of the `otel_mlbucket` and `opentelemetry` loggers (and their
    children) and anything logged on a thread while a bucketing processor logs a
    warning, so that neither this package nor the SDK logs into the pipeline they
    are part of.

    A record whose translation raises (an `extra` value whose `__str__` raises, a
    dict nested too deep for the SDK's attribute cleaning) is dropped and counted in
    `records_dropped` instead of raising into the caller of `logging`. The first
    such error per minute is printed to stderr, the way stdlib handlers report theirs.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dropped = AtomicCounter()
        self._reported_at = -_REPORT_INTERVAL_SECONDS

    @property
    def records_dropped(self) -> int:
        """Records that could not be translated into OpenTelemetry log records."""
        return self._dropped.value

    def filter(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if QUIET.active or _is_own_logger(record.name):
            return False

        return bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)
        except Exception as exc:  # noqa: BLE001 - logging must not raise into the app
            self._dropped.increment()
            now = time.monotonic()
            if now - self._reported_at >= _REPORT_INTERVAL_SECONDS:
                self._reported_at = now
                print(
                    f"otel_mlbucket: dropped a log record of logger {record.name!r} that "
                    f"OpenTelemetry cannot translate ({exc!r}); {self.records_dropped} "
                    "dropped so far. Pass attribute values that are str, bool, int, "
                    "float or bytes, or sequences and mappings of those.",
                    file=sys.stderr,
                )


@dataclass
class BucketedLogging:
    """The provider, processor, handler and exporters that `configure` built.

    Call `shutdown()` to flush and stop exporting.

    Attributes:
        logger_provider: The LoggerProvider with the processors in order.
        processor: The bucketing processor (registered first).
        handler: The stdlib logging handler, or None when not attached.
        batch_processors: The batch processors, one per exporter.
        exporters: The exporters, each wrapped in SafeLogRecordExporter.
        store: The embedded Parquet store exporter, or None.
    """

    logger_provider: LoggerProvider
    processor: BucketingProcessor
    handler: logging.Handler | None
    batch_processors: list[CountingBatchLogRecordProcessor] = field(
        default_factory=list
    )
    exporters: list[SafeLogRecordExporter] = field(default_factory=list)
    store: Any = None
    _attached_to: logging.Logger | None = None

    def stats(self) -> dict[str, Any]:
        """Return bucketing counts and the records each batch queue dropped."""
        snapshot = self.processor.stats()
        return {
            "records_bucketed": snapshot.records_bucketed,
            "records_failed": snapshot.records_failed,
            "unbucketable": snapshot.unbucketable,
            "overflowed": snapshot.overflowed,
            "attributes_skipped": snapshot.attributes_skipped,
            "queue_dropped": sum(p.dropped() for p in self.batch_processors),
            "export_repaired": sum(e.records_repaired for e in self.exporters),
            "export_dropped": sum(e.records_dropped for e in self.exporters),
            "export_failed": sum(e.records_failed for e in self.exporters),
            "handler_dropped": getattr(self.handler, "records_dropped", 0),
        }

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything queued so far and flush exporters that buffer, such as
        the embedded store."""
        flushed = bool(self.logger_provider.force_flush(timeout_millis))
        for exporter in self.exporters:
            flushed = exporter.force_flush(timeout_millis) and flushed

        return flushed

    def shutdown(self) -> None:
        """Detach the handler, flush every queue and shut the exporters down."""
        if self.handler is not None and self._attached_to is not None:
            self._attached_to.removeHandler(self.handler)
        self.logger_provider.shutdown()


def configure(
    service_name: str | None = None,
    *,
    resource: Resource | None = None,
    spec: BucketSpec | None = None,
    placements: Mapping[str, str] | None = None,
    feature_schema: Mapping[str, str] | None = None,
    otlp: bool | None = None,
    protocol: str | None = None,
    store_path: str | os.PathLike[str] | None = None,
    store_options: Mapping[str, Any] | None = None,
    exporters: list[LogRecordExporter] | None = None,
    max_queue_size: int | None = None,
    schedule_delay_millis: float | None = None,
    attach_to: logging.Logger | str | None = "",
    level: int = logging.INFO,
    set_global: bool = True,
) -> BucketedLogging:
    """Build a LoggerProvider that buckets every record and exports it.

    The bucketing processor is registered before every batch processor, because a
    batch processor copies the record in its own `on_emit`. Each exporter gets its
    own counting batch processor.

    Args:
        service_name: The service.name resource attribute. Defaults to
            OTEL_SERVICE_NAME, then the SDK default.
        resource: Extra resource attributes, merged over the SDK's default resource.
        spec: The bucket spec; defaults to OTEL_MLBUCKET_SPEC or the shipped spec.
        placements: Dimension placement overrides, see `BucketingProcessor`.
        feature_schema: Feature name to "categorical" or "numerical".
        otlp: Export over OTLP. None means export when OTEL_EXPORTER_OTLP_ENDPOINT or
            OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is set. The exporter reads every other
            standard OTEL_EXPORTER_OTLP_* variable itself.
        protocol: "grpc" or "http/protobuf". Defaults to
            OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, then OTEL_EXPORTER_OTLP_PROTOCOL, then
            "http/protobuf" (the OpenTelemetry specification's default).
        store_path: Directory of an embedded Parquet store to write, or None.
        store_options: Keyword arguments for `ParquetLogExporter`.
        exporters: More exporters, each batched.
        max_queue_size: Capacity of each batch queue in records; past it, records
            are dropped and counted.
            Defaults to OTEL_BLRP_MAX_QUEUE_SIZE, then 65536.
        schedule_delay_millis: Delay between batch exports in ms; the SDK default
            (OTEL_BLRP_SCHEDULE_DELAY, 1000) when None.
        attach_to: The stdlib logger (or its name) that gets the handler; "" is the
            root logger and None attaches no handler.
        level: The handler's level. The target logger's level is lowered to it
            when the logger's own level is higher or unset, so records at this
            level reach the handler.
        set_global: Make the provider the global LoggerProvider.

    Returns:
        The provider, processor, handler and exporters, with `stats()` and
        `shutdown()`.

    Raises:
        ValueError: protocol is not one of "grpc" or "http/protobuf", or
            max_queue_size (or OTEL_BLRP_MAX_QUEUE_SIZE) is not a positive integer.
        SpecError: The spec, placements or feature schema are invalid.
    """
    queue_size = _queue_size(max_queue_size)
    processor = BucketingProcessor(
        spec, placements=placements, feature_schema=feature_schema
    )
    chosen = list(exporters or [])
    if _wants_otlp(otlp):
        chosen.append(otlp_exporter(protocol))

    provider = LoggerProvider(resource=_resource_of(service_name, resource))
    provider.add_log_record_processor(processor)
    built = BucketedLogging(logger_provider=provider, processor=processor, handler=None)
    if store_path is not None:
        from otel_mlbucket.store import ParquetLogExporter

        built.store = ParquetLogExporter(
            store_path, spec=processor.spec, **dict(store_options or {})
        )
        chosen.append(built.store)

    for exporter in chosen:
        _add_batched(built, exporter, queue_size, schedule_delay_millis)

    if set_global:
        set_logger_provider(provider)
    if attach_to is not None:
        _attach_handler(built, attach_to, level)

    return built


def _resource_of(service_name: str | None, resource: Resource | None) -> Resource:
    attributes: dict[str, Any] = (
        dict(resource.attributes) if resource is not None else {}
    )
    if service_name:
        attributes["service.name"] = service_name

    return Resource.create(attributes)


def _wants_otlp(otlp: bool | None) -> bool:
    if otlp is not None:
        return otlp

    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT")
    )


def otlp_exporter(protocol: str | None = None) -> LogRecordExporter:
    """Return the SDK's OTLP log exporter for a protocol, configured from the environment.

    Raises:
        ValueError: The protocol is not "grpc" or "http/protobuf".
    """
    chosen = (
        protocol
        or os.environ.get("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if chosen == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        return OTLPLogExporter()
    if chosen == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http._log_exporter import (
            OTLPLogExporter as HTTPLogExporter,
        )

        return HTTPLogExporter()

    raise ValueError(
        f"Invalid OTLP protocol {chosen!r}: use one of {', '.join(PROTOCOLS)} "
        "(set the protocol argument or OTEL_EXPORTER_OTLP_LOGS_PROTOCOL)."
    )


def _queue_size(max_queue_size: int | None) -> int | None:
    if max_queue_size is None:
        return _int_from_env("OTEL_BLRP_MAX_QUEUE_SIZE")
    if (
        isinstance(max_queue_size, bool)
        or not isinstance(max_queue_size, int)
        or max_queue_size < 1
    ):
        raise ValueError(
            f"Invalid max_queue_size={max_queue_size!r}: it must be a positive integer."
        )

    return max_queue_size


def _add_batched(
    built: BucketedLogging,
    exporter: LogRecordExporter,
    queue_size: int | None,
    schedule_delay_millis: float | None,
) -> None:
    safe = SafeLogRecordExporter(exporter)
    batch = CountingBatchLogRecordProcessor(
        safe, max_queue_size=queue_size, schedule_delay_millis=schedule_delay_millis
    )
    built.logger_provider.add_log_record_processor(batch)
    built.exporters.append(safe)
    built.batch_processors.append(batch)


def _int_from_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if not raw:
        return None

    try:
        value = int(raw)
    except ValueError:
        raise ValueError(
            f"Invalid {name}={raw!r}: it must be a positive integer."
        ) from None

    if value < 1:
        raise ValueError(f"Invalid {name}={raw!r}: it must be a positive integer.")
    return value


def _attach_handler(
    built: BucketedLogging, attach_to: logging.Logger | str, level: int
) -> None:
    target = logging.getLogger(attach_to) if isinstance(attach_to, str) else attach_to
    handler = BucketingLoggingHandler(
        level=level, logger_provider=built.logger_provider
    )
    target.addHandler(handler)
    if target.level == logging.NOTSET or target.level > level:
        target.setLevel(level)

    built.handler = handler
    built._attached_to = target


def add_to_provider(
    provider: LoggerProvider, processor: LogRecordProcessor | None = None
) -> LogRecordProcessor:
    """Insert a bucketing processor first into an existing LoggerProvider.

    For providers built by someone else, such as `opentelemetry-instrument`, whose
    batch processor is already registered: appending would put bucketing after the
    batch copy, so this puts it in front. Calling it again is harmless: when the
    provider already has `processor` (or, with processor None, any
    BucketingProcessor), that one is returned and nothing is inserted.

    Args:
        provider: An SDK LoggerProvider.
        processor: The processor to insert; a default BucketingProcessor when None.

    Returns:
        The inserted (or already registered) processor.

    Raises:
        TypeError: The provider is not an SDK LoggerProvider.
    """
    if not isinstance(provider, LoggerProvider):
        raise TypeError(
            f"Expected an opentelemetry.sdk._logs.LoggerProvider, got {type(provider).__name__}: "
            "set OTEL_LOGS_EXPORTER=otlp so that opentelemetry-instrument builds an SDK provider."
        )

    # NOTE: the SDK has no public way to insert a processor first. This relies on
    # LoggerProvider._multi_log_record_processor and its _log_record_processors and
    # _lock (opentelemetry-sdk 1.39 to 1.45), which tests/test_setup.py pins.
    multi = provider._multi_log_record_processor
    with multi._lock:
        registered = multi._log_record_processors
        existing = _registered_bucketing(registered, processor)
        if existing is not None:
            return existing

        processor = processor or BucketingProcessor()
        multi._log_record_processors = (processor, *registered)

    return processor


def _registered_bucketing(
    registered: tuple[LogRecordProcessor, ...], processor: LogRecordProcessor | None
) -> LogRecordProcessor | None:
    for candidate in registered:
        if candidate is processor:
            return candidate
        if processor is None and isinstance(candidate, BucketingProcessor):
            return candidate

    return None
