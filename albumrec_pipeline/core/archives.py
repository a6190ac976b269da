"""Read the members of a compressed tar archive as a stream, without unpacking it to disk.

The AcousticBrainz dumps are `.tar.zst` archives of up to 20 GB holding a million small JSON
files each; the MusicBrainz JSON dump is a `.tar.xz` whose one large member holds a release
document per line. Both are read front to back: the compressed file feeds a decompressor,
the decompressor feeds `tarfile` in stream mode (`r|`), and each member is handed out while
the stream stands on it. Memory holds one member (or, for a large member, one read buffer),
never the archive.

A truncated or corrupt archive is not silently shortened: every member read before the damage
is handed out, and then `ArchiveReadError` says which member was the last good one and at which
byte the stream broke.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

import zstandard

# Compression suffixes albumrec reads, longest first so `.tar.zst` wins over `.tar`.
ARCHIVE_SUFFIXES: tuple[str, ...] = (".tar.zst", ".tar.xz", ".tar.bz2", ".tar.gz", ".tgz", ".tar")

_READ_SIZE = 1 << 20
# zstd archives made with `--long` need a window larger than the decoder's default limit.
_ZSTD_MAX_WINDOW = 1 << 31
_PARTITION_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ArchiveReadError(RuntimeError):
    """An archive ended early or holds bytes its compression or tar format cannot decode."""

    def __init__(
        self,
        archive: str,
        last_member: str | None,
        members_read: int,
        uncompressed_offset: int,
        compressed_offset: int,
        cause: BaseException,
        member_being_read: str | None = None,
    ):
        where = f"after member {last_member!r}" if last_member else "before its first member"
        if member_being_read:
            where = f"inside member {member_being_read!r}, {where}"
        # An end of data is a cut-short download: what came before it decoded as it was written.
        # Anything else is damage that a decoder may have passed on before noticing it.
        truncated = isinstance(cause, EOFError) or "unexpected end of data" in str(cause)
        kind = "truncated" if truncated else "corrupt"
        super().__init__(
            f"{archive}: the archive is truncated or corrupt ({kind}): {members_read:,} members were read, the "
            f"stream broke {where} at byte {uncompressed_offset:,} of the unpacked tar stream (byte "
            f"{compressed_offset:,} of the file): {type(cause).__name__}: {cause}. Download the archive again and "
            "compare its checksum with the dump's sha256sums file."
        )
        self.archive = archive
        self.last_member = last_member
        self.member_being_read = member_being_read
        self.members_read = members_read
        self.uncompressed_offset = uncompressed_offset
        self.compressed_offset = compressed_offset
        self.truncated = truncated


class DumpFormatError(ValueError):
    """An archive does not hold what its kind of dump holds (as opposed to one bad document in it)."""


@dataclass
class DumpReadCounts:
    """What reading a dump archive met: the members passed, the unusable items, and the first few
    problems (for the log). Each dump's reader adds its own counts."""

    members: int = 0
    unusable: int = 0
    problems: list[str] = field(default_factory=list)

    def note_problem(self, problem: str, keep: int = 20) -> None:
        self.unusable += 1
        if len(self.problems) < keep:
            self.problems.append(problem)


def dump_member_lines(
    members: Iterable[ArchiveMember], member: str, counts: DumpReadCounts, archive: str
) -> Iterator[tuple[str, bytes]]:
    """The non-empty lines of one member of a MusicBrainz JSON dump (`mbdump/<entity>`, one document
    per line), each with where it is (`<member> line N`). Counts every member it passes in
    `counts.members`; an archive without that member is not this dump, which is an error."""
    found = False
    for entry in members:
        counts.members += 1
        if entry.name != member and not entry.name.endswith("/" + member):
            continue
        found = True
        for number, line in enumerate(entry.file, start=1):
            if line.strip():
                yield f"{entry.name} line {number}", line
    if not found:
        raise DumpFormatError(
            f"no {member} member among {counts.members} members: this is not the MusicBrainz "
            f"JSON dump's {archive}"
        )


def archive_stem(name: str) -> str | None:
    """The file name without its archive suffix, or None when it is not an archive albumrec reads."""
    for suffix in ARCHIVE_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def find_archives(folder: Path | str) -> dict[str, Path]:
    """Archives directly in `folder`, keyed by their stem (the Dagster partition key), sorted.

    A missing folder holds no archives. Two files with the same stem (`x.tar.zst` and
    `x.tar.xz`) would be one partition twice, so that is refused.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        stem = archive_stem(path.name)
        if stem is None or not path.is_file() or path.name.startswith("."):
            continue
        if not _PARTITION_KEY.match(stem):
            raise ValueError(f"{path}: archive names may hold letters, digits, '.', '_' and '-' only")
        if stem in found:
            raise ValueError(f"{found[stem]} and {path} are the same archive in two formats; keep one")
        found[stem] = path
    return found


class _CountingReader(io.RawIOBase):
    """Counts the compressed bytes consumed, for progress and for locating damage."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        count = self.raw.readinto(buffer)
        self.position += count or 0
        return count or 0


class _ZstdReader(io.RawIOBase):
    """Decompresses a (possibly multi-frame) zstd stream and insists on a complete last frame.

    zstandard's own stream reader returns a short stream when the input stops mid-frame; a
    truncated dump must fail instead, so the decoder's end-of-frame flag is checked here.
    """

    # Compressed input per decompress call: JSON shrinks twenty-fold or more, so small steps
    # keep each burst of output (and the copy out of it) small.
    _INPUT_STEP = 1 << 17

    def __init__(self, raw: IO[bytes]):
        self.raw = raw
        self.decompressor = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
        self.frame = self.decompressor.decompressobj()
        self.frame_has_data = False
        self.pending = memoryview(b"")
        self.finished = False

    def readable(self) -> bool:
        return True

    def _refill(self) -> None:
        while not self.pending and not self.finished:
            chunk = self.raw.read(self._INPUT_STEP)
            if not chunk:
                if self.frame_has_data and not self.frame.eof:
                    raise EOFError("the zstd stream ended in the middle of a frame")
                self.finished = True
                return
            output = []
            while chunk:
                self.frame_has_data = True
                output.append(self.frame.decompress(chunk))
                if self.frame.eof:
                    # Multi-frame files (pzstd, concatenated archives): start the next frame.
                    chunk = self.frame.unused_data
                    self.frame = self.decompressor.decompressobj()
                    self.frame_has_data = False
                else:
                    chunk = b""
            self.pending = memoryview(b"".join(output))

    def readinto(self, buffer) -> int:  # type: ignore[override]
        self._refill()
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


class _UncompressedCounter(io.RawIOBase):
    """Counts the unpacked bytes handed to tarfile.

    It reads with `read1`, one decompression step at a time: a plain `read(n)` of a stream
    that breaks would discard the part of `n` it had already decompressed, and with it the
    last members before the damage.
    """

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.stream.read1(len(buffer))  # type: ignore[attr-defined]
        count = len(data)
        buffer[:count] = data
        self.position += count
        return count


def _decompressed(name: str, raw: IO[bytes]) -> IO[bytes]:
    if name.endswith(".tar.zst"):
        return io.BufferedReader(_ZstdReader(raw), _READ_SIZE)
    if name.endswith(".tar.xz"):
        return lzma.open(raw)  # type: ignore[return-value]
    if name.endswith(".tar.bz2"):
        return bz2.open(raw)  # type: ignore[return-value]
    if name.endswith((".tar.gz", ".tgz")):
        return gzip.open(raw)  # type: ignore[return-value]
    if name.endswith(".tar"):
        return raw
    raise ValueError(f"{name}: not an archive albumrec reads (expected one of {', '.join(ARCHIVE_SUFFIXES)})")


@dataclass
class ArchiveMember:
    name: str
    size: int
    offset: int  # of the member's header in the unpacked tar stream
    file: IO[bytes]  # readable only until the next member is requested

    def read(self) -> bytes:
        return self.file.read()


class ArchiveStream:
    """Iterate over the regular-file members of one archive, in archive order.

    ```
    stream = ArchiveStream(path)
    for member in stream:
        data = member.read()      # or read member.file incrementally
    ```

    `compressed_bytes_read` / `compressed_size` give the progress through the file.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.compressed_size = self.path.stat().st_size
        self.members_read = 0
        self.last_member: str | None = None
        self.member_being_read: str | None = None
        self._counter: _CountingReader | None = None
        self._unpacked: _UncompressedCounter | None = None

    @property
    def compressed_bytes_read(self) -> int:
        return self._counter.position if self._counter else 0

    @property
    def share_read(self) -> float:
        return self.compressed_bytes_read / self.compressed_size if self.compressed_size else 1.0

    def _failure(self, cause: BaseException) -> ArchiveReadError:
        return ArchiveReadError(
            str(self.path),
            self.last_member,
            self.members_read,
            self._unpacked.position if self._unpacked else 0,
            self.compressed_bytes_read,
            cause,
            self.member_being_read,
        )

    def __iter__(self) -> Iterator[ArchiveMember]:
        # Errors of the decompressors and of tarfile all mean the same thing to a reader:
        # the bytes stop making sense here.
        damage = (EOFError, OSError, tarfile.TarError, zstandard.ZstdError, lzma.LZMAError, ValueError)
        with open(self.path, "rb") as handle:
            self._counter = _CountingReader(handle)
            raw = io.BufferedReader(self._counter, _READ_SIZE)
            try:
                self._unpacked = _UncompressedCounter(_decompressed(self.path.name, raw))
                tar = tarfile.open(fileobj=io.BufferedReader(self._unpacked, _READ_SIZE), mode="r|")
            except damage as error:
                raise self._failure(error) from error
            with tar:
                while True:
                    try:
                        info = tar.next()
                    except damage as error:
                        raise self._failure(error) from error
                    if info is None:
                        # Read past the tar's end marker to the end of the compressed stream: its
                        # checksum (zstd frame, xz block) is only verified there.
                        try:
                            while self._unpacked.read(_READ_SIZE):
                                pass
                        except damage as error:
                            raise self._failure(error) from error
                        break
                    if not info.isfile():
                        continue
                    extracted = tar.extractfile(info)
                    assert extracted is not None  # regular files always have content
                    member = ArchiveMember(info.name, info.size, info.offset, _GuardedMember(extracted, self))
                    self.member_being_read = info.name
                    yield member
                    try:
                        # A consumer that stopped early leaves the rest; tarfile skips it on next().
                        member.file.close()
                    except damage as error:
                        raise self._failure(error) from error
                    self.members_read += 1
                    self.last_member = info.name
                    # tarfile keeps every header it read (for getmembers()); a stream never looks back,
                    # and a dump archive has millions of members.
                    tar.members.clear()
                    self.member_being_read = None


class _GuardedMember(io.RawIOBase):
    """A member's file whose read errors name the archive, member and offset."""

    def __init__(self, inner: IO[bytes], stream: ArchiveStream):
        self.inner = inner
        self.stream = stream

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        try:
            return self.inner.read(size)
        except (EOFError, OSError, tarfile.TarError, zstandard.ZstdError, lzma.LZMAError, ValueError) as error:
            raise self.stream._failure(error) from error

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        try:
            return self.inner.readline(-1 if size is None else size)
        except (EOFError, OSError, tarfile.TarError, zstandard.ZstdError, lzma.LZMAError, ValueError) as error:
            raise self.stream._failure(error) from error

    def __iter__(self):  # type: ignore[override]
        while line := self.readline():
            yield line

    def close(self) -> None:
        self.inner.close()
        super().close()
