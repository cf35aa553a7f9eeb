"""A saved graph's file: usearch's bytes, then a trailer saying what they hold and a digest of them.

The trailer is ``<stamp JSON><digest: 16 bytes><stamp length: u32><MAGIC>``. The stamp
(``GraphStamp``) names the index, the save, the table and the log position; ``verified_content``
checks it and the digest before usearch sees a byte (a damaged link list can crash usearch's graph
walk, and a graph of another database's history answers wrongly without any error).

The digest is xxh3-128 over the xxh3-128 digests of the content's CHUNK-byte pieces, then the stamp:
the pieces are hashed on several threads (xxhash releases Python's lock), which halves what the
first search after opening pays on two cores (a million rows of 384 dimensions is a 530 MB file:
~50 ms on one thread, ~27 ms on two). Files of the first format (``LEGACY_MAGIC``: one xxh3-128
over everything) are still read.

The process that saves a graph has just hashed it: once the file has its final name it records that on
the file itself (an extended attribute, ``CHECKED_ATTRIBUTE``: device, inode, size, modification time,
the time of recording and the digest), and a later open whose file still matches skips the digest,
which is O(file) and, on a cold disk, a read of the whole file before the first search. Any write to
the file sets its modification time to the present, which the save moved two seconds into the past
(``BACKDATE_NS``) before recording it, so a write even in the same clock tick is seen; a file put back
with its old times and attributes (``cp -a`` of a backup over it, onto the same inode) has a change
time no tool can set, which must lie where the recording put it (``CTIME_BEFORE_NS``); a copy is another inode.
Each of these is checked in full. What the record does not catch is damage below the file system (a
bad sector returned as good data), which SQLite's own pages are not checked for either. Where extended
attributes are not supported (macOS, Windows, some file systems) every open is checked in full.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The last bytes of a saved graph whose digest is over its CHUNK-byte pieces' digests.
MAGIC = b"TIDBVEC2"
#: The first format's last bytes: one digest over the whole content.
LEGACY_MAGIC = b"TIDBVEC1"
#: The piece of content each digest covers (a 530 MB graph is 16 pieces, spread over the threads).
CHUNK = 32 << 20
#: A saved file is read back for its digest this much at a time, per thread.
READ_BYTES = 1 << 20
_DIGEST = 16
_FOOTER = struct.Struct("<I")
#: A stamp is a few hundred bytes: a longer claimed length is damage, not a stamp.
_MAX_STAMP = 4096
#: The extended attribute a saving process leaves on a graph it has hashed (Linux ``user.`` namespace).
CHECKED_ATTRIBUTE = "user.tidb_embed_orm.checked"
#: How far a save moves its file's modification time into the past before recording it.
BACKDATE_NS = 2_000_000_000
#: Where the change time the recording gives the file may lie around the time it recorded: the kernel's file
#: times may run on a coarse clock, up to a tick behind the one Python reads, and never ahead of it by more than
#: the system call (a recording that landed outside, after a pause, is taken back: the file is checked in full).
CTIME_BEFORE_NS = 20_000_000
CTIME_AFTER_NS = 10_000_000


class GraphFileError(ValueError):
    """A saved graph failed its check: damaged, truncated, or saved from another database or state."""


@dataclass(frozen=True)
class GraphStamp:
    """What a saved graph must match to be used: the index's incarnation (``token``), the save that
    wrote it (``save``: a random id the database records in the transaction that compacts its
    change log to ``watermark``), the table's root page, and the vectors' metric and size."""

    token: str
    save: str
    rootpage: int
    watermark: int
    metric: str
    dim: int


def _hasher() -> Any:
    import xxhash

    return xxhash.xxh3_128()


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _hashing_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="tidb-embed-digest")
        return _pool


def _piece_digest(piece: memoryview) -> bytes:
    hasher = _hasher()
    hasher.update(piece)
    return bytes(hasher.digest())


def _digest(content: memoryview, stamp: bytes) -> bytes:
    """The format's digest of ``content`` and ``stamp`` (pieces hashed in parallel when there are several)."""
    pieces = [content[start : start + CHUNK] for start in range(0, len(content), CHUNK)]
    digests = [_piece_digest(p) for p in pieces] if len(pieces) < 2 else _hashing_pool().map(_piece_digest, pieces)
    return _combine(digests, stamp)


def _file_digest(descriptor: int, size: int, stamp: bytes) -> bytes:
    """``_digest`` of a file's first ``size`` bytes, each piece read by the thread that hashes it, READ_BYTES at a
    time: a process saving a graph holds a few MiB, not a map of the whole file (which would count once more in its
    memory)."""

    def piece(start: int) -> bytes:
        hasher, end = _hasher(), min(start + CHUNK, size)
        for at in range(start, end, READ_BYTES):
            hasher.update(os.pread(descriptor, min(READ_BYTES, end - at), at))
        return bytes(hasher.digest())

    return _combine(_hashing_pool().map(piece, range(0, size, CHUNK)), stamp)


def _combine(digests: Iterable[bytes | memoryview], stamp: bytes) -> bytes:
    """xxh3-128 of ``digests`` then ``stamp``; over ``[content]`` it is the first format's digest."""
    hasher = _hasher()
    for digest in digests:
        hasher.update(digest)
    hasher.update(stamp)
    return bytes(hasher.digest())


def _stamp_bytes(stamp: GraphStamp, content_bytes: int) -> bytes:
    return json.dumps({**asdict(stamp), "bytes": content_bytes}, sort_keys=True).encode()


def append_trailer(path: Path, stamp: GraphStamp) -> None:
    """Append the trailer to the usearch file at ``path`` and fsync it (OSError when the disk is full)."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise OSError(f"could not write {path.name}: usearch wrote nothing")
        stamp_bytes = _stamp_bytes(stamp, size)
        digest = _file_digest(handle.fileno(), size, stamp_bytes)
        handle.seek(size)
        handle.write(stamp_bytes + digest + _FOOTER.pack(len(stamp_bytes)) + MAGIC)
        handle.flush()
        os.fsync(handle.fileno())


def _identity(status: os.stat_result) -> list[int]:
    return [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns]


def record_checked(path: Path) -> None:
    """Leave on the saved graph at ``path`` (under its final name: a rename changes its change time) the record
    that lets a later open skip the digest; nothing where the file system keeps no extended attributes."""
    if not hasattr(os, "setxattr"):
        return
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        status = os.fstat(descriptor)
        tail = os.pread(descriptor, _DIGEST + _FOOTER.size + len(MAGIC), status.st_size - _DIGEST - _FOOTER.size
                        - len(MAGIC))
        if not tail.endswith(MAGIC):
            return
        os.setxattr(descriptor, CHECKED_ATTRIBUTE, b"")  # ENOTSUP here leaves the file's times as they were
        os.utime(descriptor, ns=(status.st_atime_ns, status.st_mtime_ns - BACKDATE_NS))
        recorded = time.time_ns()
        record = [*_identity(os.fstat(descriptor)), recorded, tail[:_DIGEST].hex()]
        os.setxattr(descriptor, CHECKED_ATTRIBUTE, json.dumps(record).encode())
        if not _recorded_around(os.fstat(descriptor).st_ctime_ns, recorded):
            os.removexattr(descriptor, CHECKED_ATTRIBUTE)
    except OSError:  # ENOTSUP, EPERM, a read-only mount: the file is simply checked in full when opened
        pass
    finally:
        os.close(descriptor)


def _recorded_around(ctime_ns: int, recorded_ns: int) -> bool:
    return -CTIME_BEFORE_NS <= ctime_ns - recorded_ns <= CTIME_AFTER_NS


def _checked_at_save(descriptor: int, digest: bytes) -> bool:
    """Whether the file behind ``descriptor`` is the one its saving process hashed to ``digest``, unchanged
    (see the module's docstring)."""
    if not hasattr(os, "getxattr"):
        return False
    try:
        record = json.loads(os.getxattr(descriptor, CHECKED_ATTRIBUTE))
        status = os.fstat(descriptor)
        *identity, recorded, hex_digest = record
        return bool(identity == _identity(status) and hex_digest == digest.hex()
                    and _recorded_around(status.st_ctime_ns, int(recorded)))
    except (OSError, ValueError, TypeError):  # no record, or not one of ours
        return False


def map_file(path: Path) -> tuple[mmap.mmap, int]:
    """A read-only map of a saved graph (its pages are read by the digest's threads, in parallel) and an open
    descriptor of the same file: the graph is read into memory through it later (``reopen_path``), from
    the very file that was checked even if another process has since replaced the name. The caller
    closes the descriptor."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if os.fstat(descriptor).st_size == 0:
            raise GraphFileError("it is empty")
        return mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ), descriptor
    except BaseException:
        os.close(descriptor)
        raise


def reopen_path(descriptor: int) -> str | None:
    """A path that opens the file behind ``descriptor`` again (Linux ``/proc/self/fd``, BSD and macOS
    ``/dev/fd``), or None where there is none."""
    for folder in ("/proc/self/fd", "/dev/fd"):
        candidate = f"{folder}/{descriptor}"
        if os.path.exists(candidate):
            return candidate
    return None


def verified_content(view: memoryview, expected: GraphStamp, descriptor: int | None = None) -> memoryview:
    """The usearch bytes of a saved graph, once its trailer matches ``expected`` and its digest the
    bytes (not computed again when ``descriptor``, the open file ``view`` maps, is unchanged since its
    save hashed it); GraphFileError otherwise."""
    size = len(view)
    magic = bytes(view[size - len(MAGIC):]) if size >= len(MAGIC) else b""
    if size < len(MAGIC) + _FOOTER.size + _DIGEST or magic not in (MAGIC, LEGACY_MAGIC):
        raise GraphFileError("no graph trailer at its end (truncated, or not written by this library)")
    (stamp_length,) = _FOOTER.unpack(view[size - len(MAGIC) - _FOOTER.size : size - len(MAGIC)])
    digest_end = size - len(MAGIC) - _FOOTER.size
    content_end = digest_end - _DIGEST - stamp_length
    if stamp_length > _MAX_STAMP or content_end <= 0:
        raise GraphFileError("its trailer is damaged")
    stamp = bytes(view[content_end : digest_end - _DIGEST])
    if stamp != _stamp_bytes(expected, content_end):
        raise GraphFileError("it was saved from another database, table or state than this one")
    content, saved = view[:content_end], bytes(view[digest_end - _DIGEST : digest_end])
    if descriptor is not None and magic == MAGIC and _checked_at_save(descriptor, saved):
        return content
    digest = _digest(content, stamp) if magic == MAGIC else _combine([content], stamp)
    if digest != saved:
        raise GraphFileError("its content does not match its checksum (damaged)")
    return content
