"""Splitting an HL7 v2 file into messages and checking each one's structure before parsing.

Accepts MLLP framing (``\\x0b`` ... ``\\x1c\\r``), ``\\r``, ``\\n`` or ``\\r\\n`` segment ends, any
number of messages, and HL7 batch envelopes (FHS/BHS ... BTS/FTS): the envelope segments are set
aside (a batch trailer's message count is checked by the adapter), the messages inside are read
as if sent alone. Structural faults are reported per message, naming the segment and field,
so one bad message never costs the rest of the file.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from adapters.community_hl7v2.fields import FieldError

_LINE_END = re.compile(rb"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_LATIN1_NAMES = {"8859/1", "ISO-8859-1", "ISO IR100"}
ENVELOPE_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")


@dataclass(frozen=True)
class Chunk:
    """The segments of one message as sent (bytes), numbered from 1 in file order."""

    number: int
    segments: list[bytes]

    @property
    def raw(self) -> bytes:
        return b"\r".join(self.segments) + b"\r"

    @property
    def size(self) -> int:
        return sum(len(s) + 1 for s in self.segments)


def chunks(raw: bytes, envelope: list[bytes] | None = None) -> Iterator[Chunk]:
    """Group segments into messages: each MSH starts one. A second PID without a new MSH means a
    message lost its header, so it becomes a chunk of its own (and fails the MSH check).
    Batch-envelope segments end the current message and are appended to ``envelope``."""
    unframed = raw.replace(b"\x0b", b"\r").replace(b"\x1c", b"\r")
    current: list[bytes] = []
    has_pid = False  # (a flag, not a search of ``current``: linear in the number of segments)
    number = 0
    for line in _LINE_END.split(unframed):
        line = line.strip(b" \t\x00")
        if not line:
            continue
        if line[:3] in ENVELOPE_SEGMENTS:
            if envelope is not None:
                envelope.append(line)
            if current:
                number += 1
                yield Chunk(number, current)
                current, has_pid = [], False
            continue
        starts_message = line.startswith(b"MSH") or (line.startswith(b"PID") and has_pid)
        if starts_message and current:
            number += 1
            yield Chunk(number, current)
            current, has_pid = [], False
        current.append(line)
        has_pid = has_pid or line.startswith(b"PID")
    if current:
        yield Chunk(number + 1, current)


def declared_batch_size(envelope: list[bytes]) -> int | None:
    """The number of messages the batch trailers (BTS-1) declare, or None when none declares one."""
    declared = None
    for segment in envelope:
        if segment.startswith(b"BTS") and len(segment) > 4:
            count = segment[4:].split(segment[3:4], 1)[0].strip()
            if count.isdigit():
                declared = (declared or 0) + int(count)
    return declared


def decode(chunk: Chunk) -> str:
    """UTF-8 unless MSH-18 declares Latin-1; otherwise the offending byte is reported."""
    data = b"\r".join(chunk.segments)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if _declared_charset(chunk.segments[0]) in _LATIN1_NAMES:
            return data.decode("latin-1")
        segment = data[:exc.start].count(b"\r") + 1
        name = chunk.segments[segment - 1][:3].decode("ascii", "replace")
        raise FieldError(f"segment {segment} ({name})",
                         f"byte 0x{data[exc.start]:02x} is not valid UTF-8 and MSH-18 declares no other "
                         "character set") from None


def _declared_charset(msh: bytes) -> str:
    if not msh.startswith(b"MSH") or len(msh) < 4:
        return ""
    fields = msh.split(msh[3:4])
    return fields[17].decode("ascii", "replace").strip() if len(fields) > 17 else ""


def check_structure(text: str) -> None:
    """MSH first, valid delimiters, every segment using them; raises FieldError naming the place."""
    segments = text.split("\r")
    msh = segments[0]
    if not msh.startswith("MSH"):
        raise FieldError("MSH", f"message starts with {msh[:3]!r}, not an MSH segment (missing MSH)")
    if len(msh) < 8:
        raise FieldError("MSH-2", "MSH is truncated before its encoding characters")
    field_sep = msh[3]
    if field_sep.isalnum() or field_sep.isspace():
        raise FieldError("MSH-1", f"field separator {field_sep!r} is not valid")
    encoding = msh[4:].split(field_sep, 1)[0]
    if not 4 <= len(encoding) <= 5 or len(set(encoding)) != len(encoding) or any(
            c.isalnum() or c.isspace() or c == field_sep for c in encoding):
        raise FieldError("MSH-2", f"encoding characters {encoding!r} are not valid (expected ^~\\&)")
    for position, segment in enumerate(segments[1:], start=2):
        seg_id = segment[:3]
        if not _SEGMENT_ID.match(seg_id):
            raise FieldError(f"segment {position}", f"{segment[:10]!r} is not a segment (truncated or "
                             "invalid segment id)")
        if len(segment) > 3 and segment[3] != field_sep:
            raise FieldError(f"{seg_id} (segment {position})",
                             f"fields are not separated by {field_sep!r} as MSH-1 declares (wrong delimiters)")
