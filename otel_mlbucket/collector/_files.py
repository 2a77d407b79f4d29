"""Reading back the file exporter's cold-storage files."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from typing import Any

_LENGTH = struct.Struct(">I")


def read_file_export(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield each OTLP JSON export request in a file that the file exporter wrote.

    The collector-contrib file exporter (v0.148.0) with `format: json` and
    `compression: zstd` writes each export as one zstd frame of OTLP JSON, preceded
    by the frame's length as a 4-byte big-endian integer. Without compression it
    writes one OTLP JSON object per line. Both layouts are read; zstd frames are
    decompressed with pyarrow.

    Raises:
        ValueError: The file ends inside a frame, as when the collector was killed
            while writing; every request before that frame has been yielded.
        OSError: The file cannot be read.
    """
    with open(path, "rb") as handle:
        data = handle.read()

    if data[:1] == b"{":
        for line in data.splitlines():
            if line.strip():
                yield json.loads(line)
        return

    yield from _frames(data, os.fspath(path))


def _frames(data: bytes, name: str) -> Iterator[dict[str, Any]]:
    import pyarrow as pa

    offset = 0
    while offset < len(data):
        end = offset + _LENGTH.size
        if end > len(data):
            raise _truncated(name, offset, len(data))
        (length,) = _LENGTH.unpack_from(data, offset)
        if end + length > len(data):
            raise _truncated(name, offset, len(data))

        frame = pa.py_buffer(data[end : end + length])
        with pa.input_stream(frame, compression="zstd") as stream:
            yield json.loads(stream.read())
        offset = end + length


def _truncated(name: str, offset: int, size: int) -> ValueError:
    return ValueError(
        f"{name} ends inside the frame that starts at byte {offset} of {size}, as "
        "when the collector is killed while writing. The requests before it were read."
    )
