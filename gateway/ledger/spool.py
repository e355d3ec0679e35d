"""A durable local spool for ledger records: append-only segment files in the data directory.

Every usage record is written here before it is queued for the database, so a record
survives the database being down and the process being killed. The database copy is
the truth: once a record is in the database the spool forgets it (a fully written
segment is deleted, the current one truncated). On start, segments left by a process
that is gone are replayed; inserts are idempotent by request id, so a record replayed
twice is written once.

Sync policy, the bound on what a crash can lose:
- `sync="record"`: each record is handed to the kernel (`write`) as it is appended. A
  killed process (SIGKILL, OOM) loses nothing; a machine crash loses what was not yet
  fsynced, at most `fsync_interval_ms` of records.
- `sync="batch"`: records are handed to the kernel by `sync()`, which the ledger writer
  calls every flush interval. A killed process loses at most the records of one
  interval that the database had not yet received.
`fsync_interval_ms=0` fsyncs on every write.

Several worker processes may share a data directory: each holds an exclusive `flock`
on the segments it owns, and only adopts segments nobody holds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
from sqlalchemy import DateTime

from gateway.ledger.tables import UsageRecord

log = logging.getLogger("sobria.spool")

SyncPolicy = Literal["record", "batch"]
_DATETIME_COLUMNS = tuple(c.name for c in UsageRecord.__table__.columns if isinstance(c.type, DateTime))


@dataclass(slots=True)
class _Segment:
    """One open, locked segment file and how many of its records are not yet in the database."""

    path: Path
    fd: int
    unwritten: int = 0
    size: int = 0


def encode(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    record = orjson.loads(line)
    for name in _DATETIME_COLUMNS:
        if isinstance(record.get(name), str):
            record[name] = datetime.fromisoformat(record[name])
    return record


class Spool:
    """Append-only segments of usage records not yet confirmed in the database."""

    def __init__(
        self,
        directory: Path,
        sync: SyncPolicy = "record",
        fsync_interval_ms: int = 200,
        segment_bytes: int = 8 * 1024 * 1024,
    ):
        self.directory = directory
        self.sync_policy = sync
        self.fsync_interval_s = fsync_interval_ms / 1000
        self.segment_bytes = segment_bytes
        self._segments: deque[_Segment] = deque()
        self._buffer: list[bytes] = []
        self._last_fsync = time.monotonic()
        self._dirty = False
        self.torn_lines = 0

    @property
    def unwritten(self) -> int:
        """Records in the spool that the database has not confirmed."""
        return sum(s.unwritten for s in self._segments)

    def open(self) -> list[dict[str, Any]]:
        """Adopt the segments of processes that are gone and return their records, oldest first."""
        self.directory.mkdir(parents=True, exist_ok=True)
        recovered: list[dict[str, Any]] = []
        for path in sorted(self.directory.glob("*.jsonl")):
            segment = self._adopt(path)
            if segment is None:
                continue
            records = self._read(segment)
            segment.unwritten = len(records)
            if records:
                self._segments.append(segment)
                recovered.extend(records)
            else:
                self._delete(segment)
        if recovered:
            log.warning("spool: replaying %d ledger records left by a previous process", len(recovered))
        self._segments.append(self._new_segment())
        return recovered

    def append(self, record: dict[str, Any]) -> None:
        """Spool one record (written now or at the next `sync`, per the policy)."""
        line = encode(record)
        current = self._current()
        if current.size > self.segment_bytes and current.unwritten:
            self._flush_buffer()
            current = self._new_segment()
            self._segments.append(current)
        current.unwritten += 1
        current.size += len(line)
        if self.sync_policy == "record":
            os.write(current.fd, line)
            self._dirty = True
            if self.fsync_interval_s <= 0:
                self._fsync()
        else:
            self._buffer.append(line)

    def sync(self) -> None:
        """Hand buffered records to the kernel, and fsync when the interval has passed."""
        self._flush_buffer()
        if self._dirty and time.monotonic() - self._last_fsync >= self.fsync_interval_s:
            self._fsync()

    def acknowledge(self, count: int) -> None:
        """The `count` oldest records are in the database: forget them."""
        while count and self._segments:
            head = self._segments[0]
            taken = min(count, head.unwritten)
            head.unwritten -= taken
            count -= taken
            if head.unwritten:
                break
            if len(self._segments) > 1:
                self._segments.popleft()
                self._delete(head)
            else:
                self._buffer.clear()
                os.ftruncate(head.fd, 0)
                head.size = 0

    def close(self) -> None:
        """Write what is buffered, fsync, and release the segments (kept if not empty)."""
        self._flush_buffer()
        if self._dirty:
            self._fsync()
        while self._segments:
            segment = self._segments.popleft()
            if segment.unwritten:
                os.close(segment.fd)
            else:
                self._delete(segment)

    def _current(self) -> _Segment:
        return self._segments[-1]

    def _new_segment(self) -> _Segment:
        path = self.directory / f"ledger-{os.getpid()}-{time.time_ns()}-{uuid.uuid4().hex[:6]}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return _Segment(path, fd)

    def _adopt(self, path: Path) -> _Segment | None:
        """Lock a segment nobody holds; None when a live process owns it or it is gone."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                raise FileNotFoundError(path)
        except (BlockingIOError, FileNotFoundError):
            os.close(fd)
            return None
        return _Segment(path, fd, size=os.fstat(fd).st_size)

    def _read(self, segment: _Segment) -> list[dict[str, Any]]:
        records = []
        with open(segment.path, "rb") as handle:
            for line in handle:
                if not line.endswith(b"\n"):
                    self.torn_lines += 1
                    continue
                try:
                    records.append(decode(line))
                except (orjson.JSONDecodeError, ValueError):
                    self.torn_lines += 1
        if self.torn_lines:
            log.warning("spool: %d torn or unreadable lines skipped in %s", self.torn_lines, segment.path.name)
        return records

    def _flush_buffer(self) -> None:
        if self._buffer and self._segments:
            os.write(self._current().fd, b"".join(self._buffer))
            self._buffer.clear()
            self._dirty = True

    def _fsync(self) -> None:
        for segment in self._segments:
            os.fsync(segment.fd)
        self._last_fsync = time.monotonic()
        self._dirty = False

    def _delete(self, segment: _Segment) -> None:
        try:
            segment.path.unlink()
        except FileNotFoundError:
            pass
        os.close(segment.fd)
