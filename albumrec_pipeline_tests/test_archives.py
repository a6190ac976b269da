"""Streaming tar members out of compressed archives, and what a damaged archive does."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from albumrec_pipeline.core.archives import ArchiveReadError, ArchiveStream, archive_stem, find_archives
from albumrec_pipeline.demo.dump_writer import write_tar_xz, write_tar_zst


def _members(count: int, size: int = 3000) -> list[tuple[str, bytes]]:
    # Varied content so that compression does not shrink it to nothing.
    return [(f"dump/lowlevel/ab/c/member{i:04d}-0.json", (str(i) * size).encode()[:size] + bytes(range(i % 250))) for i in range(count)]


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.xz"])
def test_members_come_out_in_order_with_their_bytes(tmp_path: Path, suffix: str) -> None:
    members = _members(50)
    path = tmp_path / f"archive{suffix}"
    (write_tar_zst if suffix == ".tar.zst" else write_tar_xz)(path, members)
    stream = ArchiveStream(path)
    read = [(member.name, member.read()) for member in stream]
    assert read == members
    assert stream.members_read == 50 and stream.share_read == pytest.approx(1.0)


def test_a_large_member_is_read_in_pieces(tmp_path: Path) -> None:
    lines = b"".join(b'{"id": "%d"}\n' % number for number in range(20_000))
    path = write_tar_zst(tmp_path / "big.tar.zst", [("mbdump/release", lines)])
    (member,) = list(_consume_lines(ArchiveStream(path)))
    assert member == 20_000


def _consume_lines(stream: ArchiveStream):
    for member in stream:
        yield sum(1 for _ in member.file)


def test_multi_frame_zstd_is_read_whole(tmp_path: Path) -> None:
    import zstandard

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w|") as tar:
        for name, data in _members(10):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    data = raw.getvalue()
    half = len(data) // 2
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "frames.tar.zst"
    path.write_bytes(compressor.compress(data[:half]) + compressor.compress(data[half:]))
    assert [member.name for member in ArchiveStream(path)] == [name for name, _ in _members(10)]


@pytest.mark.parametrize("suffix", [".tar.zst", ".tar.xz"])
def test_a_truncated_archive_keeps_what_was_read_and_names_where_it_broke(tmp_path: Path, suffix: str) -> None:
    members = _members(200)
    whole = tmp_path / f"whole{suffix}"
    (write_tar_zst if suffix == ".tar.zst" else write_tar_xz)(whole, members)
    truncated = tmp_path / f"truncated{suffix}"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    read = []
    with pytest.raises(ArchiveReadError) as caught:
        for member in ArchiveStream(truncated):
            read.append((member.name, member.read()))
    error = caught.value
    # Everything before the damage was handed out, intact and in order.
    assert 0 < len(read) < len(members) and read == members[: len(read)]
    assert error.members_read == len(read)
    assert error.last_member == read[-1][0]
    assert 0 < error.compressed_offset <= truncated.stat().st_size
    assert error.uncompressed_offset > 0
    message = str(error)
    assert str(truncated) in message and read[-1][0] in message and "truncated or corrupt" in message


def test_corrupt_bytes_fail_with_the_archive_named(tmp_path: Path) -> None:
    whole = write_tar_zst(tmp_path / "whole.tar.zst", _members(100))
    data = bytearray(whole.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    corrupt = tmp_path / "corrupt.tar.zst"
    corrupt.write_bytes(bytes(data))
    with pytest.raises(ArchiveReadError, match="corrupt.tar.zst"):
        for member in ArchiveStream(corrupt):
            member.read()


def test_not_an_archive_at_all(tmp_path: Path) -> None:
    path = tmp_path / "notes.tar.zst"
    path.write_bytes(b"these are not zstd frames")
    with pytest.raises(ArchiveReadError, match="before its first member"):
        list(ArchiveStream(path))


def test_archives_in_a_folder_are_the_partitions(tmp_path: Path) -> None:
    for name in ("b.tar.zst", "a.tar.xz", "c.csv", ".hidden.tar.zst"):
        (tmp_path / name).write_bytes(b"")
    assert list(find_archives(tmp_path)) == ["a", "b"]
    assert find_archives(tmp_path / "missing") == {}
    assert archive_stem("acousticbrainz-lowlevel-json-20220623-0.tar.zst") == "acousticbrainz-lowlevel-json-20220623-0"
    (tmp_path / "a.tar.zst").write_bytes(b"")
    with pytest.raises(ValueError, match="same archive in two formats"):
        find_archives(tmp_path)


def test_a_flipped_bit_is_caught_by_the_checksum_and_called_corrupt(tmp_path: Path) -> None:
    """The tar ends before the compressed stream does; reading on to the end verifies the zstd
    frame checksum, so a changed byte is an error, not a silently different member."""
    members = _members(100)
    whole = write_tar_zst(tmp_path / "whole.tar.zst", members)
    data = bytearray(whole.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "flipped.tar.zst"
    flipped.write_bytes(bytes(data))
    with pytest.raises(ArchiveReadError) as caught:
        for member in ArchiveStream(flipped):
            member.read()
    assert caught.value.truncated is False and "(corrupt)" in str(caught.value)
    cut = tmp_path / "cut.tar.zst"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ArchiveReadError) as caught:
        for member in ArchiveStream(cut):
            member.read()
    assert caught.value.truncated is True and "(truncated)" in str(caught.value)
    # The member the stream broke in is named, beside the last complete one.
    assert caught.value.member_being_read and f"inside member {caught.value.member_being_read!r}" in str(caught.value)
