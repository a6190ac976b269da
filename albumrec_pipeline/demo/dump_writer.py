"""Write documents as the AcousticBrainz and MusicBrainz dumps ship them: compressed tar archives.

* AcousticBrainz JSON dumps: `acousticbrainz-<kind>-json-<name>-<n>.tar.zst`, each holding
  `acousticbrainz-<kind>-json-<name>/<kind>/<mbid[0:2]>/<mbid[2]>/<mbid>-<offset>.json` and a
  COPYING file. The dumps were written `ORDER BY submitted`: archive 0 holds the earliest
  submissions, each archive a stretch of time, and a recording's submissions (offset 0 its
  first) fall wherever their dates put them, usually in different archives.
* AcousticBrainz CSV feature dumps: `acousticbrainz-lowlevel-features-<name>-<csv>.tar.zst`
  for the lowlevel, rhythm and tonal CSVs, each holding one CSV (text values, empty when
  missing, CRLF line ends, a header; one line per submission, in submission order) and a
  COPYING file.
* The MusicBrainz JSON dump's `release.tar.xz`: `mbdump/release` with one release document
  per line, next to the TIMESTAMP and COPYING files; `release-group.tar.xz` and `artist.tar.xz`
  the same way (`mbdump/release-group`, `mbdump/artist`).

`benchmarks/catalog.py` writes its far larger synthetic dumps in the same layout and order with
writers of its own, which render documents from templates for speed.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import tarfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import orjson
import zstandard

from albumrec_pipeline.core.feature_dumps import CSV_KINDS

DUMP_NAME = "demo"
# Fixed member times keep the archives byte-for-byte reproducible.
_MTIME = 1655942400  # 2022-06-23, the date of the last AcousticBrainz dumps
_COPYING = b"Synthetic data written by albumrec's demo world generator; dedicated to the public domain (CC0).\n"


def _member(name: str, data: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), _MTIME, 0o644
    return info, io.BytesIO(data)


def write_tar_zst(path: Path, members: Iterable[tuple[str, bytes]], level: int = 3) -> Path:
    """A `.tar.zst` of the members, written to a temporary name and renamed when complete."""
    temporary = path.with_name(f".{path.name}.tmp")
    # Frame checksums, as the zstd tool writes them: a flipped bit then fails the read loudly.
    compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
    with open(temporary, "wb") as handle, compressor.stream_writer(handle, closefd=False) as compressed:
        with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                tar.addfile(*_member(name, data))
    os.replace(temporary, path)
    return path


def write_tar_xz(path: Path, members: Iterable[tuple[str, bytes]], preset: int = 6) -> Path:
    temporary = path.with_name(f".{path.name}.tmp")
    with lzma.open(temporary, "wb", preset=preset) as compressed:
        with tarfile.open(fileobj=compressed, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name, data in members:
                tar.addfile(*_member(name, data))
    os.replace(temporary, path)
    return path


def submission_time(mbid: str, offset: int) -> float:
    """When submission `offset` of a recording was made, as a fraction of the dumps' time span.

    Drawn from a hash of the recording id, so the order is reproducible and needs no generator
    state: the first submission at a uniform time, each later one uniformly between the one
    before it and the end (offsets count a recording's submissions in the order they came).
    """
    time = 0.0
    for number in range(offset + 1):
        digest = hashlib.blake2b(f"{mbid}-{number}".encode(), digest_size=8).digest()
        time += (1.0 - time) * (int.from_bytes(digest, "big") / 2**64)
    return time


def submissions_in_time_order(
    documents: Mapping[str, dict], resubmissions: Mapping[str, dict]
) -> list[tuple[str, int, dict]]:
    """(mbid, offset, document) of every submission, earliest first."""
    found = [(mbid, 0, document) for mbid, document in documents.items()]
    found += [(mbid, 1, document) for mbid, document in resubmissions.items()]
    return sorted(found, key=lambda item: (submission_time(item[0], item[1]), item[0], item[1]))


def _split(items: list, parts: int) -> list[list]:
    """`parts` consecutive runs of nearly equal length (empty runs dropped; at least one)."""
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(items[start:end])
        start = end
    return [chunk for chunk in chunks if chunk] or [[]]


def json_dump_members(kind: str, submissions: Iterable[tuple[str, int, dict]], folder: str) -> Iterator[tuple[str, bytes]]:
    for mbid, offset, document in submissions:
        yield f"{folder}/{kind}/{mbid[0:2]}/{mbid[2]}/{mbid}-{offset}.json", orjson.dumps(document)
    yield f"{folder}/COPYING", _COPYING


def write_json_dumps(
    folder: Path,
    kind: str,
    documents: Mapping[str, dict],
    resubmissions: Mapping[str, dict],
    archives: int,
    name: str = DUMP_NAME,
) -> list[Path]:
    """One kind's JSON dump as `archives` archives of consecutive stretches of submission time.

    `documents` are the recordings' first submissions (offset 0), `resubmissions` their second ones.
    """
    dump = f"acousticbrainz-{kind}-json-{name}"
    submissions = submissions_in_time_order(documents, resubmissions)
    return [
        write_tar_zst(folder / f"{dump}-{number}.tar.zst", json_dump_members(kind, chunk, dump))
        for number, chunk in enumerate(_split(submissions, archives))
    ]


def _text(value: object) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def csv_dump_lines(kind: str, documents: Iterable[tuple[str, int, dict]]) -> Iterator[str]:
    """The lines of one CSV feature dump from low-level documents (mbid, offset, document)."""
    yield ",".join(CSV_KINDS[kind]) + "\r\n"
    for mbid, offset, document in documents:
        lowlevel, rhythm, tonal = document["lowlevel"], document["rhythm"], document["tonal"]
        if kind == "lowlevel":
            values = [lowlevel.get("average_loudness"), lowlevel.get("dynamic_complexity"), lowlevel["mfcc"]["mean"][0]]
        elif kind == "rhythm":
            first = rhythm.get("bpm_histogram_first_peak_bpm", {})
            second = rhythm.get("bpm_histogram_second_peak_bpm", {})
            values = [
                rhythm.get("bpm"), first.get("mean"), first.get("median"), second.get("mean"), second.get("median"),
                rhythm.get("danceability"), rhythm.get("onset_rate"),
            ]
        else:
            values = [
                tonal.get("key_key"), tonal.get("key_scale"), tonal.get("tuning_frequency"),
                tonal.get("tuning_equal_tempered_deviation"),
            ]
        yield ",".join([mbid, str(offset), *(_text(value) for value in values)]) + "\r\n"


def write_csv_dumps(
    folder: Path, documents: Mapping[str, dict], resubmissions: Mapping[str, dict], name: str = DUMP_NAME
) -> list[Path]:
    """The lowlevel, rhythm and tonal CSV feature dumps of the low-level documents, one archive each."""
    dump = f"acousticbrainz-lowlevel-features-{name}"
    rows = submissions_in_time_order(documents, resubmissions)
    written = []
    for kind in CSV_KINDS:
        text = "".join(csv_dump_lines(kind, rows)).encode("utf-8")
        members = [(f"{dump}/{dump}-{kind}.csv", text), (f"{dump}/COPYING", _COPYING)]
        written.append(write_tar_zst(folder / f"{dump}-{kind}.tar.zst", members))
    return written


def write_acousticbrainz_dumps(
    folder: Path,
    documents: Mapping[str, Mapping[str, dict]],
    resubmissions: Mapping[str, Mapping[str, dict]],
    archives_per_kind: int,
    name: str = DUMP_NAME,
) -> list[Path]:
    """JSON dumps of both kinds and the CSV feature dumps, into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("lowlevel", "highlevel"):
        written += write_json_dumps(folder, kind, documents[kind], resubmissions.get(kind, {}), archives_per_kind, name)
    written += write_csv_dumps(folder, documents["lowlevel"], resubmissions.get("lowlevel", {}), name)
    return written


def entity_dump_members(entity: str, documents: Iterable[dict]) -> Iterator[tuple[str, bytes]]:
    """The members of one entity's archive of the MusicBrainz JSON dump: `mbdump/<entity>`, a document a line."""
    yield "TIMESTAMP", b"2022-06-23 00:00:00+00\n"
    yield "COPYING", _COPYING
    yield f"mbdump/{entity}", b"".join(orjson.dumps(document) + b"\n" for document in documents)


def release_dump_members(releases: Iterable[dict]) -> Iterator[tuple[str, bytes]]:
    return entity_dump_members("release", releases)


def write_entity_dump(path: Path, entity: str, documents: Iterable[dict]) -> Path:
    """One entity's archive of the MusicBrainz JSON dump, e.g. `artist.tar.xz` (`mbdump/artist`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_tar_xz(path, entity_dump_members(entity, documents))


def write_release_dump(path: Path, releases: Iterable[dict]) -> Path:
    """The MusicBrainz JSON dump's release archive, `release.tar.xz`."""
    return write_entity_dump(path, "release", releases)
