"""One-call setup: processor order, OTLP from the environment, the stdlib handler,
no feedback, and insertion into providers built by someone else."""

from __future__ import annotations

import logging

import pytest
from opentelemetry._logs import NoOpLoggerProvider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.resources import Resource

from otel_mlbucket import BucketingProcessor, add_to_provider, configure
from otel_mlbucket import attributes as attr
from otel_mlbucket.setup import BucketingLoggingHandler, LoggingHandler


@pytest.fixture
def configured():
    built = []

    def build(service_name="setup-test", **options):
        options.setdefault("set_global", False)
        options.setdefault("attach_to", None)
        result = configure(service_name, **options)
        built.append(result)
        return result

    yield build
    for result in built:
        result.shutdown()


def _processors(provider):
    return provider._multi_log_record_processor._log_record_processors


def test_provider_internals_pinned():
    """add_to_provider inserts through these LoggerProvider internals."""
    provider = LoggerProvider(shutdown_on_exit=False)
    batch = BatchLogRecordProcessor(InMemoryLogRecordExporter())
    provider.add_log_record_processor(batch)

    multi = provider._multi_log_record_processor
    assert multi._log_record_processors == (batch,)
    assert isinstance(multi._log_record_processors, tuple)
    with multi._lock:
        pass
    provider.shutdown()


def test_processor_registered_first(configured):
    built = configured(exporters=[InMemoryLogRecordExporter()])

    processors = _processors(built.logger_provider)
    assert processors[0] is built.processor
    assert processors[1:] == tuple(built.batch_processors)


def test_processor_after_batch_misses_routing():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    provider.add_log_record_processor(BucketingProcessor())

    provider.get_logger("order").emit(body="x", attributes={attr.MODEL_VERSION: "v1"})
    provider.force_flush()

    resource = exporter.get_finished_logs()[0].resource
    assert "ml.bucket.team" not in resource.attributes
    assert "ml.bucket.model_version" not in resource.attributes
    provider.shutdown()


def test_configure_gets_order_right(configured):
    exporter = InMemoryLogRecordExporter()
    built = configured(exporters=[exporter])

    built.logger_provider.get_logger("order").emit(
        body="x", attributes={attr.MODEL_VERSION: "v1"}
    )
    built.force_flush()

    resource = exporter.get_finished_logs()[0].resource
    assert resource.attributes["ml.bucket.team"] == "unowned"
    assert resource.attributes["ml.bucket.model_version"] == "v1"


def test_add_to_provider_inserts_first():
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider(shutdown_on_exit=False)
    batch = BatchLogRecordProcessor(exporter)
    provider.add_log_record_processor(batch)

    processor = add_to_provider(provider)
    provider.get_logger("late").emit(body="x", attributes={attr.EXCEPTION_TYPE: "E"})
    provider.force_flush()

    assert _processors(provider) == (processor, batch)
    resource = exporter.get_finished_logs()[0].resource
    assert resource.attributes["ml.bucket.error_category"] == "prediction_error"
    assert resource.attributes["ml.bucket.team"] == "modelling"
    provider.shutdown()


def test_add_to_provider_twice_inserts_once():
    provider = LoggerProvider(shutdown_on_exit=False)
    provider.add_log_record_processor(
        BatchLogRecordProcessor(InMemoryLogRecordExporter())
    )

    first = add_to_provider(provider)
    second = add_to_provider(provider)
    third = add_to_provider(provider, first)

    assert second is first
    assert third is first
    assert len(_processors(provider)) == 2
    provider.shutdown()


def test_add_to_provider_given_processor():
    provider = LoggerProvider(shutdown_on_exit=False)
    processor = BucketingProcessor(placements={"latency": "record"})

    assert add_to_provider(provider, processor) is processor
    assert _processors(provider) == (processor,)


@pytest.mark.parametrize("provider", [NoOpLoggerProvider(), object()])
def test_add_to_provider_rejects_api_provider(provider):
    with pytest.raises(TypeError) as raised:
        add_to_provider(provider)

    assert type(provider).__name__ in str(raised.value)
    assert "OTEL_LOGS_EXPORTER=otlp" in str(raised.value)


def _configure_from_env(configured):
    return configured(attach_to="setup.otlp", schedule_delay_millis=60_000)


def test_otlp_from_environment(otlp_receiver, configured):
    receiver, _ = otlp_receiver
    built = _configure_from_env(configured)

    logging.getLogger("setup.otlp").warning(
        "slow", extra={attr.INFERENCE_LATENCY_MS: 1500, attr.MODEL_VERSION: "v7"}
    )
    built.force_flush()
    rows = receiver.wait_for(1)

    assert len(rows) == 1
    assert rows[0]["body"] == "slow"
    assert rows[0]["resource"]["service.name"] == "setup-test"
    assert rows[0]["resource"]["ml.bucket.team"] == "infrastructure"
    assert rows[0]["resource"]["ml.bucket.model_version"] == "v7"
    assert rows[0]["severity_number"] == 13


def test_logs_protocol_variable_wins(grpc_receiver, otlp_env, monkeypatch, configured):
    receiver, endpoint = grpc_receiver
    otlp_env(endpoint, "http/protobuf")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc")
    built = _configure_from_env(configured)

    logging.getLogger("setup.otlp").warning("over grpc")
    built.force_flush()

    assert [row["body"] for row in receiver.wait_for(1)] == ["over grpc"]


def test_logs_endpoint_variable(http_receiver, otlp_env, monkeypatch, configured):
    receiver, endpoint = http_receiver
    otlp_env(endpoint, "http/protobuf")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", f"{endpoint}/v1/logs")
    built = _configure_from_env(configured)

    logging.getLogger("setup.otlp").warning("logs endpoint")
    built.force_flush()

    assert [row["body"] for row in receiver.wait_for(1)] == ["logs endpoint"]


def test_no_otlp_without_endpoint(otlp_env, configured):
    built = configured()

    assert built.exporters == []
    assert built.batch_processors == []


def test_invalid_protocol(otlp_env, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    root_handlers = list(logging.getLogger().handlers)

    with pytest.raises(ValueError) as raised:
        configure("bad", attach_to="", set_global=False)

    assert "Invalid OTLP protocol 'http/json'" in str(raised.value)
    assert "grpc, http/protobuf" in str(raised.value)
    assert logging.getLogger().handlers == root_handlers


@pytest.mark.parametrize(
    ("options", "environment", "message"),
    [
        ({"max_queue_size": 0}, {}, "Invalid max_queue_size=0"),
        ({"max_queue_size": -5}, {}, "Invalid max_queue_size=-5"),
        ({}, {"OTEL_BLRP_MAX_QUEUE_SIZE": "lots"}, "OTEL_BLRP_MAX_QUEUE_SIZE='lots'"),
        ({}, {"OTEL_BLRP_MAX_QUEUE_SIZE": "0"}, "OTEL_BLRP_MAX_QUEUE_SIZE='0'"),
    ],
)
def test_invalid_queue_size(otlp_env, monkeypatch, options, environment, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValueError) as raised:
        configure("bad", set_global=False, attach_to=None, **options)

    assert message in str(raised.value)
    assert "positive integer" in str(raised.value)


def test_queue_size_from_environment(otlp_env, monkeypatch, configured):
    monkeypatch.setenv("OTEL_BLRP_MAX_QUEUE_SIZE", "32")

    built = configured(exporters=[InMemoryLogRecordExporter()])

    assert built.batch_processors[0].max_queue_size == 32


def test_handler_attached_and_detached(configured):
    exporter = InMemoryLogRecordExporter()
    target = logging.getLogger("setup.handler")
    built = configured(exporters=[exporter], attach_to="setup.handler")

    assert isinstance(built.handler, BucketingLoggingHandler)
    assert isinstance(built.handler, LoggingHandler)
    assert built.handler in target.handlers
    assert target.level == logging.INFO
    built.shutdown()
    assert built.handler not in target.handlers


def test_handler_level(configured):
    exporter = InMemoryLogRecordExporter()
    built = configured(
        exporters=[exporter], attach_to="setup.level", level=logging.WARNING
    )
    logger = logging.getLogger("setup.level")

    logger.info("dropped by level")
    logger.error("kept")
    built.force_flush()

    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["kept"]


@pytest.mark.parametrize(
    ("logger_name", "exported"),
    [
        ("otel_mlbucket", False),
        ("otel_mlbucket.processor", False),
        ("opentelemetry.sdk._logs", False),
        ("otel_mlbucket_demo", True),
        ("opentelemetry_app", True),
        ("app.otel_mlbucket", True),
    ],
)
def test_own_loggers_filtered(configured, logger_name, exported):
    exporter = InMemoryLogRecordExporter()
    built = configured(exporters=[exporter], attach_to=logger_name)

    logging.getLogger(logger_name).warning("message")
    built.force_flush()

    assert len(exporter.get_finished_logs()) == (1 if exported else 0)


def test_processor_warning_not_exported(configured, monkeypatch, caplog):
    monkeypatch.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "1")
    exporter = InMemoryLogRecordExporter()
    built = configured(
        exporters=[exporter],
        attach_to="",
        placements={"model_name": "record", "validation": "record"},
    )

    # Emitted through the logs API, so that no handler's emit is on the stack
    # when the processor warns.
    with caplog.at_level(logging.WARNING):
        built.logger_provider.get_logger("app").emit(
            body="full", attributes={"user.a": 1}
        )
    built.force_flush()

    warnings = [r for r in caplog.records if r.name == "otel_mlbucket.processor"]
    assert len(warnings) == 1
    assert "attribute count limit of 1" in warnings[0].getMessage()
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["full"]
    assert built.stats()["attributes_skipped"] == 3


class _TalkativeProcessor(BucketingProcessor):
    """Logs a warning, rate limit aside, through a third-party logger per record."""

    def _bucket(self, log_record):
        self._warned_at.clear()
        self._warn("talk", "logged inside on_emit by %s", "a processor warning")
        super()._bucket(log_record)


def test_processor_warning_inside_on_emit_not_exported(configured):
    exporter = InMemoryLogRecordExporter()
    built = configured(exporters=[exporter], attach_to="")
    talkative = _TalkativeProcessor()
    add_to_provider(built.logger_provider, talkative)

    logging.getLogger("setup.app").warning("from logging")
    built.logger_provider.get_logger("app").emit(body="from the logs API")
    built.force_flush()

    bodies = [r.log_record.body for r in exporter.get_finished_logs()]
    assert bodies == ["from logging", "from the logs API"]
    assert talkative.stats().records_bucketed == 2


def test_resource_and_service_name(configured):
    exporter = InMemoryLogRecordExporter()
    built = configured(
        "svc-a",
        resource=Resource({"deployment.environment.name": "test"}),
        exporters=[exporter],
    )

    built.logger_provider.get_logger("r").emit(body="x")
    built.force_flush()

    resource = exporter.get_finished_logs()[0].resource
    assert resource.attributes["service.name"] == "svc-a"
    assert resource.attributes["deployment.environment.name"] == "test"
    assert resource.attributes["telemetry.sdk.name"] == "opentelemetry"


def test_stats_keys(configured):
    built = configured(exporters=[InMemoryLogRecordExporter()])

    assert set(built.stats()) == {
        "records_bucketed",
        "records_failed",
        "unbucketable",
        "overflowed",
        "attributes_skipped",
        "queue_dropped",
        "export_repaired",
        "export_dropped",
        "export_failed",
        "handler_dropped",
    }


class _FailingExporter(InMemoryLogRecordExporter):
    """Reports every batch as failed, as the OTLP exporter does after its retries."""

    def export(self, batch):
        super().export(batch)
        return LogRecordExportResult.FAILURE


def test_failed_exports_counted(configured):
    built = configured(exporters=[_FailingExporter()])

    for index in range(5):
        built.logger_provider.get_logger("f").emit(body=f"lost {index}")
    built.force_flush()

    assert built.stats()["export_failed"] == 5


class _BufferingExporter(InMemoryLogRecordExporter):
    """Holds records until its own force_flush, as the Parquet store does."""

    def __init__(self):
        super().__init__()
        self.buffered: list = []

    def export(self, batch):
        self.buffered.extend(batch)
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        super().export(self.buffered)
        self.buffered = []
        return True


def test_force_flush_reaches_buffering_exporter(configured):
    exporter = _BufferingExporter()
    built = configured(exporters=[exporter])

    built.logger_provider.get_logger("b").emit(body="buffered")
    flushed = built.force_flush()

    assert flushed is True
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["buffered"]


class _Unprintable:
    def __str__(self):
        raise RuntimeError("no text")


def test_handler_drops_untranslatable_record(configured, capsys):
    exporter = InMemoryLogRecordExporter()
    built = configured(exporters=[exporter], attach_to="handler.app")
    log = logging.getLogger("handler.app")

    log.warning("bad extra", extra={"ml.model.name": _Unprintable()})
    log.warning("fine")
    built.force_flush()

    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["fine"]
    assert built.stats()["handler_dropped"] == 1
    assert "dropped a log record of logger 'handler.app'" in capsys.readouterr().err
