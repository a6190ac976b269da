"""The offline catalog at scale: ingest synthetic dumps, compact the features, score every recording, rank every album.

    python benchmarks/catalog.py                          # 1M, 3M and 10M submissions: about an hour on 2 cores
    python benchmarks/catalog.py --sizes 300000 1000000   # a quicker look: a few minutes
    python benchmarks/catalog.py --sizes 10000000 --keep --save figures.json   # keep the dumps, save the figures
    python benchmarks/catalog.py --sizes 10000000 --reuse # measure kept dumps again
    python benchmarks/catalog.py --sizes 10000000 --after-ingest figures.json # kept tables: the steps after ingest again
    python benchmarks/catalog.py --help

Sizes count AcousticBrainz submissions: N low-level documents and as many high-level ones (each
submission has both), for N / 3.9 recordings with features (a long-tailed number of submissions
per recording, 3.9 on average, as in the real dumps), which are 90% of the catalog's
recordings. The dumps are written as the real ones were, `ORDER BY submitted`: each archive a
stretch of time, a recording's submissions usually in different archives, offset 0 its first.
The MusicBrainz side has ten tracks per release and, as in the real JSON dump, 3.7 release
groups and 2.5 artists for every 4.7 releases, with `release-group.tar.xz` and `artist.tar.xz`
(a fifth of the release groups and three in ten artists tagged).

For each size one process writes the dumps (in the real formats: `.tar.zst` JSON dumps, the CSV
feature dumps for a tenth of the submissions, `release.tar.xz`, `release-group.tar.xz`,
`artist.tar.xz`, plus full-size low-level documents for one submission in 200, at least
10,000), then a fresh process measures, with the functions the assets run:

* ingest: every archive through `ingest_feature_archive`, `ingest_release_archive` or
  `ingest_tag_archive` into Parquet, two archives at a time in worker processes (partitions
  are independent: `albumrec materialize --workers 2`); the rate per core is documents over the
  summed time of the archives' runs, by the wall clock and per CPU-second (on a shared
  machine the wall clock counts other people's work too). Generated archives are deleted once
  ingested, unless `--keep`.
* compaction: `compact_recording_features` (the `recording_features` asset);
* candidate build: `candidate_tracklists_sql` (`candidate_albums`);
* candidate features: `write_candidate_features` on the compacted table, with the recordings'
  MusicBrainz tags (`recording_tags_sql`), as `candidate_track_features` runs it;
* scoring: `score_feature_batches` with a network of albumrec's shape, then `pooled_scores_sql`
  (`track_scores`); ranking: `album_ranking_sql` (`album_recommendations`);
* peak RSS of the measuring process and of the ingest workers; the Parquet each table takes.

DuckDB runs with the catalog engine's defaults (1 GB, a thread per core, spilling to scratch).
A query that fails within them (out of memory) is reported, then run again with one thread
and then with 2 GB, so that the steps after it can still be measured.

The catalog's documents hold the values albumrec reads (about 1.4 KB low-level, 3.4 KB
high-level). Real low-level documents hold every descriptor essentia computes, and parsing
those is what ingest spends its time on, so the rate of full-size documents (about 85 KB,
indented as the API serves them, with twelve-digit numbers like essentia's) is measured
separately. Then it extrapolates to the real dumps (29.5M
low-level and 29.5M high-level submissions, 7.5M recordings, 4.7M releases) for the three
downloads, on 2 cores and on 16 with partition-parallel ingest, and prints a verdict on each
target (2-core machine):

* full-size low-level ingest at least 2,000 documents/s per core, at every size;
* peak RSS at most 2 GB at every size, flat rather than growing (DuckDB spills to scratch);
* compaction, candidates, scoring and ranking of the 10M-submission catalog within 5 minutes;
* disk at most 1.5 times the Parquet the chosen rows alone take.

Generation is not measured; it renders documents from byte templates with the numbers filled
in, and writes the tar headers itself (about two minutes per million submissions on 2 free
cores). At the peak it needs about 1.5 GB of disk per million submissions, archives and
tables together (`--workdir` to put it elsewhere).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import lzma
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    MFCC_COUNT,
    MULTICLASS_MODELS,
)

# The catalog's shape.
SUBMISSIONS_PER_RECORDING = 3.9  # mean; long-tailed (see `submission_counts`)
FEATURE_COVERAGE = 0.9  # recordings with documents, of all the catalog's recordings
TRACKS_PER_RELEASE = 10
REISSUE_SHARE = 0.27  # albums with a second release in their group: 4.7 releases per 3.7 groups
ARTISTS_PER_RELEASE = 2.5 / 4.7
TAGGED_RELEASE_GROUP_SHARE = 0.2
TAGGED_ARTIST_SHARE = 0.3
ARCHIVES_PER_KIND = 4
FULL_SIZE_SAMPLE = 200  # full-size low-level documents: one per this many submissions ...
FULL_SIZE_MINIMUM = 10_000  # ... and at least this many
CSV_SAMPLE = 10  # CSV feature dump lines: one per this many submissions
SCORE_BATCH_ROWS = 100_000  # the track_scores asset's default
ARTIST_POOLING = 0.5
INGEST_WORKERS = 2

# The real dumps (AcousticBrainz 2022-06-23, a MusicBrainz JSON dump of the time).
REAL_SUBMISSIONS = 29_500_000  # per kind
REAL_RECORDINGS = 7_500_000  # with features
REAL_RELEASES = 4_700_000
REAL_RELEASE_GROUPS = 3_700_000
REAL_ARTISTS = 2_500_000
REAL_ARCHIVES = 30  # per kind of JSON dump
REAL_SAMPLE_DOCUMENTS = 100_000  # per kind, in the sample dumps
REAL_LOWLEVEL_GB, REAL_HIGHLEVEL_GB = 589, 39

# Member times of every generated archive: the date of the last AcousticBrainz dumps.
_MTIME = 1655942400
_COPYING = b"Synthetic data written by albumrec's catalog benchmark; dedicated to the public domain (CC0).\n"


# --- documents from templates -------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A value filled in per document: a number in [low, high), a whole number, or one of `choices`."""

    low: float = 0.0
    high: float = 1.0
    whole: bool = False
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Template:
    """A JSON document as `%` format text: every Slot of the model document a `%s`."""

    text: str
    slots: tuple[Slot, ...]

    @classmethod
    def of(cls, document: object, indent: bool = False) -> Template:
        slots: list[Slot] = []

        def marked(value: object) -> object:
            if isinstance(value, Slot):
                slots.append(value)
                return f"@{len(slots) - 1}@"
            if isinstance(value, dict):
                return {key: marked(item) for key, item in value.items()}
            if isinstance(value, list):
                return [marked(item) for item in value]
            return value

        # orjson writes keys in insertion order, which is the order `marked` numbered the slots in.
        text = orjson.dumps(marked(document), option=orjson.OPT_INDENT_2 if indent else 0).decode().replace("%", "%%")
        text = re.sub(r'"@(\d+)@"', lambda m: '"%s"' if slots[int(m.group(1))].choices else "%s", text)
        return cls(text, tuple(slots))

    def render(self, rng: np.random.Generator, count: int) -> list[bytes]:
        columns = []
        for slot in self.slots:
            if slot.choices:
                columns.append(np.array(slot.choices, dtype=object)[rng.integers(0, len(slot.choices), count)].tolist())
            elif slot.whole:
                columns.append(rng.integers(int(slot.low), int(slot.high), count).tolist())
            else:
                # Twelve or so significant digits, as essentia's single-precision values print.
                columns.append(np.round(slot.low + (slot.high - slot.low) * rng.random(count), 9).tolist())
        text = self.text
        return [(text % values).encode() for values in zip(*columns)]


def _stats(low: float, high: float) -> dict[str, Slot]:
    return {stat: Slot(low, high) for stat in ("dmean", "dmean2", "dvar", "dvar2", "max", "mean", "median", "min", "var")}


def lowlevel_model(filler: dict | None = None) -> dict:
    """A low-level document with every value albumrec reads; `filler` adds the rest of what essentia
    writes (band energies, covariance matrices, beat positions, ...) to make a full-size one."""
    key, scale = tuple(CATEGORICAL_VOCABULARIES["key_key"]), ("major", "minor")
    document = {
        "lowlevel": {
            "average_loudness": Slot(), "dynamic_complexity": Slot(0, 10),
            "mfcc": {"mean": [Slot(-60, 60) for _ in range(MFCC_COUNT)]},
            "spectral_centroid": _stats(500, 2500), "spectral_rolloff": _stats(1000, 5000),
            "spectral_flux": _stats(0, 0.2),
        },
        "rhythm": {"bpm": Slot(60, 180), "beats_count": Slot(200, 600, whole=True)},
        "tonal": {
            "key_key": Slot(choices=key), "key_scale": Slot(choices=scale),
            "chords_key": Slot(choices=key), "chords_scale": Slot(choices=scale),
            "chords_changes_rate": Slot(0, 0.1), "chords_number_rate": Slot(0, 0.01),
        },
        "metadata": {"audio_properties": {"length": Slot(120, 420)}, "tags": {"artist": ["A"]}},
    }
    for section, extra in (filler or {}).items():
        document[section].update(extra)
    return document


def full_size_filler(rng: np.random.Generator) -> dict:
    """The descriptors of a real low-level document that albumrec does not read, with values."""
    stat_names = ("dmean", "dmean2", "dvar", "dvar2", "max", "mean", "median", "min", "var")

    def numbers(*shape: int) -> list:
        # Essentia's single-precision values print with twelve significant digits, over many magnitudes.
        values = rng.random(shape) * 10.0 ** rng.uniform(-5, 5, shape)
        return np.vectorize(lambda value: float(f"{value:.12g}"))(values).tolist()

    def stats() -> dict[str, float]:
        return dict(zip(stat_names, numbers(9)))

    def vectors(width: int) -> dict[str, list[float]]:
        return {stat: numbers(width) for stat in stat_names}

    low: dict = {}
    for name, width in (("barkbands", 27), ("erbbands", 40), ("melbands", 40), ("spectral_contrast_coeffs", 6),
                        ("spectral_contrast_valleys", 6), ("gfcc", 13)):
        low[name] = vectors(width)
    for name in ("barkbands_crest", "barkbands_flatness_db", "barkbands_kurtosis", "barkbands_skewness",
                 "barkbands_spread", "dissonance", "erbbands_crest", "erbbands_flatness_db", "erbbands_kurtosis",
                 "erbbands_skewness", "erbbands_spread", "hfc", "melbands_crest", "melbands_flatness_db",
                 "melbands_kurtosis", "melbands_skewness", "melbands_spread", "pitch_salience",
                 "silence_rate_20dB", "silence_rate_30dB", "silence_rate_60dB", "spectral_complexity",
                 "spectral_decrease", "spectral_energy", "spectral_energyband_high", "spectral_energyband_low",
                 "spectral_energyband_middle_high", "spectral_energyband_middle_low", "spectral_entropy",
                 "spectral_kurtosis", "spectral_rms", "spectral_skewness", "spectral_spread",
                 "spectral_strongpeak", "zerocrossingrate"):
        low[name] = stats()
    low["mfcc_cov"], low["mfcc_icov"] = numbers(MFCC_COUNT, MFCC_COUNT), numbers(MFCC_COUNT, MFCC_COUNT)
    low["gfcc_cov"], low["gfcc_icov"] = numbers(13, 13), numbers(13, 13)
    beats = np.cumsum(rng.random(int(rng.integers(300, 1000))) * 0.6)
    rhythm: dict = {"beats_position": [float(f"{value:.12g}") for value in beats]}
    rhythm["beats_loudness_band_ratio"] = vectors(6)
    for name in ("beats_loudness", "bpm_histogram_first_peak_bpm", "bpm_histogram_second_peak_bpm",
                 "bpm_histogram_first_peak_weight", "bpm_histogram_second_peak_spread", "onset_rate"):
        rhythm[name] = stats()
    tonal: dict = {"hpcp": vectors(36), "thpcp": numbers(36), "chords_histogram": numbers(24)}
    for name in ("hpcp_entropy", "chords_strength", "hpcp_crest"):
        tonal[name] = stats()
    return {"lowlevel": low, "rhythm": rhythm, "tonal": tonal}


def highlevel_model() -> dict:
    models: dict = {}
    for model, classes in MULTICLASS_MODELS.items():
        models[model] = {"all": {label: Slot() for label in classes}, "probability": Slot(), "value": classes[0]}
    for model in (*CONFIDENCE_MODELS, "danceability"):
        label = "danceable" if model == "danceability" else model.removeprefix("mood_")
        models[model] = {"all": {label: Slot(), f"not_{label}": Slot()}, "probability": Slot(0.5, 1), "value": label}
    return {"highlevel": models, "metadata": {"tags": {}}}


# --- archives -------------------------------------------------------------------------------------


def _tar_header_template() -> bytearray:
    info = tarfile.TarInfo("x")
    info.mtime, info.mode = _MTIME, 0o644
    header = bytearray(info.tobuf(tarfile.USTAR_FORMAT))
    header[0:100] = bytes(100)
    header[148:156] = b" " * 8  # the checksum is summed with its own field as spaces
    return header


_TAR_HEADER = _tar_header_template()


def tar_member(name: bytes, data: bytes) -> bytes:
    """One ustar member (header, data, padding); a Python loop over tarfile's own is ten times slower."""
    if len(name) > 100:
        raise ValueError(f"member name longer than a ustar header holds: {name!r}")
    header = bytearray(_TAR_HEADER)
    header[0 : len(name)] = name
    header[124:136] = b"%011o\x00" % len(data)
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header) + data + bytes(-len(data) % 512)


class TarZstWriter:
    """A `.tar.zst` written member by member, as the dumps ship (frame checksums included)."""

    def __init__(self, path: Path, level: int = 1) -> None:
        self.path, self.temporary = path, path.with_name(f".{path.name}.tmp")
        self.handle = open(self.temporary, "wb")  # noqa: SIM115 (closed in close(), after the stream)
        compressor = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)
        self.stream = compressor.stream_writer(self.handle, closefd=False)

    def write(self, members: list[tuple[bytes, bytes]]) -> None:
        self.stream.write(b"".join(tar_member(name, data) for name, data in members))

    def close(self) -> Path:
        self.stream.write(bytes(1024))  # the end-of-archive marker
        self.stream.close()
        self.handle.close()
        os.replace(self.temporary, self.path)
        return self.path


# --- the catalog ----------------------------------------------------------------------------------


def _uuids(rng: np.random.Generator, count: int) -> list[str]:
    raw = rng.bytes(16 * count)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(count)]


def submission_counts(rng: np.random.Generator, recordings: int, submissions: int) -> np.ndarray:
    """Submissions per recording, summing to `submissions`: 1 + floor of a lognormal (sigma 1.1),
    so about three recordings in ten have one submission, half have two or fewer, and a popular
    one hundreds; then recordings picked at random gain or lose one to make the total exact."""
    sigma = 1.1
    mu = np.log(submissions / recordings - 0.5) - sigma**2 / 2
    counts = 1 + np.floor(rng.lognormal(mu, sigma, recordings)).astype(np.int64)
    difference = submissions - int(counts.sum())
    while difference:
        if difference > 0:
            counts += np.bincount(rng.integers(0, recordings, difference), minlength=recordings)
        else:
            candidates = np.flatnonzero(counts > 1)
            picked = np.unique(rng.choice(candidates, min(-difference, len(candidates)), replace=False))
            counts[picked] -= 1
        difference = submissions - int(counts.sum())
    return counts


def plan_catalog(submissions: int, folder: Path, seed: int = 0) -> dict[str, float]:
    """Recordings, their submissions in time order, and the archives they fall in; saved for the writers."""
    rng = np.random.default_rng(seed)
    featured = max(1, round(submissions / SUBMISSIONS_PER_RECORDING))
    recordings = round(featured / FEATURE_COVERAGE)
    mbids = np.array(sorted(_uuids(rng, recordings)), dtype="S36")
    has_features = np.zeros(recordings, dtype=bool)
    has_features[rng.choice(recordings, featured, replace=False)] = True
    counts = submission_counts(rng, featured, submissions)
    recording = np.repeat(np.flatnonzero(has_features), counts)
    # A recording's first submission at a uniform time; its later ones after it, uniformly.
    first = rng.random(featured)
    starts = np.repeat(first, counts)
    times = starts + (1 - starts) * rng.random(submissions)
    heads = np.concatenate(([0], np.cumsum(counts)[:-1]))
    times[heads] = first
    # Offsets number a recording's submissions in time order.
    by_recording = np.lexsort((times, recording))
    offsets = np.empty(submissions, dtype=np.int32)
    offsets[by_recording] = np.arange(submissions) - np.repeat(heads, counts)
    order = np.argsort(times, kind="stable")
    np.savez(folder / "plan.npz", mbids=mbids, has_features=has_features,
             recording=recording[order].astype(np.int32), offset=offsets[order])
    return {
        "submissions": submissions, "recordings": recordings, "recordings_with_features": featured,
        "single_submission_share": float((counts == 1).mean()), "median_submissions": float(np.median(counts)),
        "p99_submissions": float(np.percentile(counts, 99)), "max_submissions": int(counts.max()),
    }


def _load_plan(folder: Path) -> dict[str, np.ndarray]:
    with np.load(folder / "plan.npz") as plan:
        return {name: plan[name] for name in plan.files}


def write_json_archive(folder: Path, kind: str, number: int, seed: int) -> str:
    """Archive `number` of one kind's JSON dump: the `number`-th stretch of the submissions in time order."""
    plan = _load_plan(folder)
    total = len(plan["recording"])
    start, end = total * number // ARCHIVES_PER_KIND, total * (number + 1) // ARCHIVES_PER_KIND
    mbids = plan["mbids"][plan["recording"][start:end]]
    offsets = plan["offset"][start:end]
    dump = f"acousticbrainz-{kind}-json-bench"
    template = Template.of(lowlevel_model() if kind == "lowlevel" else highlevel_model())
    rng = np.random.default_rng([seed, 1 if kind == "lowlevel" else 2, number])
    writer = TarZstWriter(folder / "acousticbrainz" / f"{dump}-{number}.tar.zst")
    prefix = f"{dump}/{kind}/".encode()
    for batch in range(0, end - start, 20_000):
        ids, numbers = mbids[batch : batch + 20_000], offsets[batch : batch + 20_000]
        documents = template.render(rng, len(ids))
        writer.write([
            (b"%s%s/%s/%s-%d.json" % (prefix, mbid[0:2], mbid[2:3], mbid, offset), document)
            for mbid, offset, document in zip(ids.tolist(), numbers.tolist(), documents)
        ])
    writer.write([(f"{dump}/COPYING".encode(), _COPYING)])
    writer.close()
    return f"{kind} {number}"


def write_full_size_sample(folder: Path, documents: int, seed: int) -> str:
    """Full-size low-level documents for the ingest rate, indented as the API serves them (80 to 95 KB).
    Their descriptors come from a pool of 16 fillers (which keeps the archive small; parsing costs
    the same); the values albumrec reads vary."""
    rng = np.random.default_rng([seed, 3])
    templates = [Template.of(lowlevel_model(full_size_filler(rng)), indent=True) for _ in range(16)]
    dump = "acousticbrainz-lowlevel-json-fullsize"
    writer = TarZstWriter(folder / "fullsize" / f"{dump}-0.tar.zst", level=3)
    mbids = sorted(_uuids(rng, documents))
    for start in range(0, documents, 1_000):
        ids = mbids[start : start + 1_000]
        template = templates[(start // 1_000) % len(templates)]
        rendered = template.render(rng, len(ids))
        # Documents of one filler are not next to each other, as no two real ones are alike.
        shuffled = [templates[i].render(rng, 1)[0] for i in rng.integers(0, len(templates), len(ids) // 2)]
        rendered[: len(shuffled)] = shuffled
        writer.write([(f"{dump}/lowlevel/{m[0:2]}/{m[2]}/{m}-0.json".encode(), d) for m, d in zip(ids, rendered)])
    writer.close()
    return "full-size sample"


def write_csv_sample(folder: Path, seed: int) -> str:
    """The three CSV feature dumps for the first tenth of the submissions (in time order)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from albumrec_pipeline.core.feature_dumps import CSV_KINDS

    plan = _load_plan(folder)
    count = max(1, len(plan["recording"]) // CSV_SAMPLE)
    rng = np.random.default_rng([seed, 4])
    base = {"mbid": pa.array(plan["mbids"][plan["recording"][:count]].astype(str)),
            "submission_offset": pa.array(plan["offset"][:count])}
    keys = np.array(CATEGORICAL_VOCABULARIES["key_key"], dtype=object)
    dump = "acousticbrainz-lowlevel-features-bench"
    for kind, header in CSV_KINDS.items():
        columns = dict(base)
        for name in header[2:]:
            if name == "key_key":
                columns[name] = pa.array(keys[rng.integers(0, len(keys), count)].tolist())
            elif name == "key_scale":
                columns[name] = pa.array(np.where(rng.random(count) < 0.4, "minor", "major").tolist())
            else:
                columns[name] = pa.array(np.round(rng.random(count) * 100, 9))
        text = folder / f"{kind}.csv"
        # The header as the dumps write it (pyarrow would quote the names).
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        pa_csv.write_csv(pa.table({name: columns[name] for name in header}), text, options)
        data = (",".join(header) + "\n").encode() + text.read_bytes()
        writer = TarZstWriter(folder / "acousticbrainz-csv" / f"{dump}-{kind}.tar.zst")
        writer.write([(f"{dump}/{dump}-{kind}.csv".encode(), data), (f"{dump}/COPYING".encode(), _COPYING)])
        writer.close()
        text.unlink()
    return "CSV sample"


_TAG_NAMES = (
    "rock", "pop", "electronic", "jazz", "hip hop", "folk", "classical", "metal", "punk", "soul", "blues", "country",
    "ambient", "house", "techno", "indie rock", "alternative rock", "singer-songwriter", "experimental", "reggae",
    "funk", "disco", "hard rock", "psychedelic rock", "synth-pop", "new wave", "post-punk", "shoegaze", "dream pop",
    "trip hop", "drum and bass", "dubstep", "latin", "world", "soundtrack", "british", "american", "german",
    "1970s", "1980s", "1990s", "2000s", "female vocalists", "instrumental", "live", "acoustic",
)


def _tags(rng: np.random.Generator, share: float) -> dict[str, list]:
    """An entity's `tags` and `genres` as the dump writes them; most entities have none."""
    if rng.random() >= share:
        return {"tags": [], "genres": []}
    names = sorted(rng.choice(len(_TAG_NAMES), int(rng.integers(1, 6)), replace=False).tolist())
    tags = [{"count": int(rng.integers(1, 20)), "name": _TAG_NAMES[i]} for i in names]
    genres = [{"count": t["count"], "disambiguation": "", "id": str(uuid.uuid5(uuid.NAMESPACE_OID, t["name"])),
               "name": t["name"]} for t in tags if not t["name"][0].isdigit()]
    return {"tags": tags, "genres": genres}


def _write_tar_xz(path: Path, members: list[tuple[str, Path | bytes]]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with lzma.open(temporary, "wb", preset=1) as compressed, tarfile.open(fileobj=compressed, mode="w|") as tar:
        for name, data in members:
            if isinstance(data, Path):
                tar.add(data, arcname=name)
            else:
                info = tarfile.TarInfo(name)
                info.size, info.mtime = len(data), _MTIME
                tar.addfile(info, io.BytesIO(data))
    os.replace(temporary, path)


def write_musicbrainz(folder: Path, seed: int) -> str:
    """`release.tar.xz`, `release-group.tar.xz` and `artist.tar.xz` of the catalog's recordings."""
    plan = _load_plan(folder)
    rng = np.random.default_rng([seed, 5])
    mbids = plan["mbids"].astype(str)
    recordings = len(mbids)
    order = rng.permutation(recordings)
    albums = recordings // TRACKS_PER_RELEASE
    artists = max(1, round(albums * (1 + REISSUE_SHARE) * ARTISTS_PER_RELEASE))
    artist_ids, release_ids, group_ids = _uuids(rng, artists), _uuids(rng, albums), _uuids(rng, albums)
    out = folder / "musicbrainz"
    out.mkdir(parents=True, exist_ok=True)
    lines = out / "release.lines"
    with open(lines, "wb") as handle:
        for album in range(albums):
            tracks = mbids[order[album * TRACKS_PER_RELEASE : (album + 1) * TRACKS_PER_RELEASE]].tolist()
            artist = artist_ids[album % artists]
            year = int(1960 + rng.integers(0, 62))
            credit = [{"name": f"Artist {artist[:8]}", "joinphrase": "", "artist": {"id": artist, "name": artist[:8]}}]
            group = {"id": group_ids[album], "primary-type": "Album", "secondary-types": [],
                     "first-release-date": str(year)}
            for edition in range(2 if rng.random() < REISSUE_SHARE else 1):
                release = {
                    "id": release_ids[album] if edition == 0 else str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                    "title": f"Album {album}", "status": "Official", "date": f"{year + 10 * edition}-01-01",
                    "artist-credit": credit, "release-group": group,
                    "media": [{"position": 1, "track-count": len(tracks), "tracks": [
                        {"id": str(number), "position": number + 1, "title": f"Song {number}",
                         "recording": {"id": recording, "title": f"Song {number}", "artist-credit": credit}}
                        for number, recording in enumerate(tracks)]}],
                }
                handle.write(orjson.dumps(release) + b"\n")
    timestamp = ("TIMESTAMP", b"2022-06-23 00:00:00+00\n")
    _write_tar_xz(out / "release.tar.xz", [timestamp, ("COPYING", _COPYING), ("mbdump/release", lines)])
    with open(lines, "wb") as handle:
        for album in range(albums):
            artist = artist_ids[album % artists]
            group = {
                "id": group_ids[album], "title": f"Album {album}", "primary-type": "Album", "secondary-types": [],
                "disambiguation": "", "first-release-date": str(1960 + album % 62),
                "artist-credit": [{"name": artist[:8], "joinphrase": "", "artist": {"id": artist, "name": artist[:8]}}],
                "rating": {"value": None, "votes-count": 0}, **_tags(rng, TAGGED_RELEASE_GROUP_SHARE),
            }
            handle.write(orjson.dumps(group) + b"\n")
    _write_tar_xz(out / "release-group.tar.xz", [timestamp, ("COPYING", _COPYING), ("mbdump/release-group", lines)])
    with open(lines, "wb") as handle:
        for artist in artist_ids:
            document = {
                "id": artist, "name": artist[:8], "sort-name": artist[:8], "type": "Person", "gender": None,
                "country": "GB", "disambiguation": "", "aliases": [],
                "life-span": {"begin": "1970", "end": None, "ended": False},
                "rating": {"value": None, "votes-count": 0}, **_tags(rng, TAGGED_ARTIST_SHARE),
            }
            handle.write(orjson.dumps(document) + b"\n")
    _write_tar_xz(out / "artist.tar.xz", [timestamp, ("COPYING", _COPYING), ("mbdump/artist", lines)])
    lines.unlink()
    return "MusicBrainz"


def generate(submissions: int, folder: Path, seed: int = 0) -> dict[str, float]:
    """Every archive of one size, two writers at a time."""
    for name in ("acousticbrainz", "acousticbrainz-csv", "fullsize", "musicbrainz"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    summary = plan_catalog(submissions, folder, seed)
    full_size = max(FULL_SIZE_MINIMUM, submissions // FULL_SIZE_SAMPLE)
    context = multiprocessing.get_context("fork")  # numpy only so far: forking is safe and quick
    with concurrent.futures.ProcessPoolExecutor(INGEST_WORKERS, mp_context=context) as pool:
        jobs = [pool.submit(write_musicbrainz, folder, seed)]
        jobs += [pool.submit(write_json_archive, folder, kind, number, seed)
                 for number in range(ARCHIVES_PER_KIND) for kind in ("lowlevel", "highlevel")]
        jobs += [pool.submit(write_full_size_sample, folder, full_size, seed), pool.submit(write_csv_sample, folder, seed)]
        for job in jobs:
            job.result()
    (folder / "plan.npz").unlink()
    summary["full_size_documents"] = full_size
    summary["full_size_document_kb"] = _mean_member_kb(next((folder / "fullsize").glob("*.tar.zst")), 200)
    (folder / "generated.json").write_text(json.dumps(summary))
    return summary


def _mean_member_kb(archive: Path, count: int) -> float:
    from albumrec_pipeline.core.archives import ArchiveStream

    sizes = []
    for member in ArchiveStream(archive):
        if member.name.endswith(".json"):
            sizes.append(len(member.read()))
        if len(sizes) == count:
            break
    return float(np.mean(sizes)) / 1000


# --- measurement, in a process of its own -------------------------------------------------------


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest_archive(kind: str, archive: Path, tables: Path, scratch: Path, discard: bool) -> dict[str, float]:
    """One archive into its tables, as its asset partition does; in an ingest worker process."""
    from albumrec_pipeline.core.archives import ArchiveStream
    from albumrec_pipeline.core.feature_dumps import (
        TABLE_SCHEMAS,
        IngestCounts,
        ingest_feature_archive,
    )
    from albumrec_pipeline.core.musicbrainz_tags import (
        TAG_ARCHIVES,
        TagIngestCounts,
        ingest_tag_archive,
    )
    from albumrec_pipeline.core.releases import (
        CATALOG_TRACK_SCHEMA,
        RELEASE_SCHEMA,
        ReleaseIngestCounts,
        ingest_release_archive,
    )
    from albumrec_pipeline.storage.tables import StagedTable

    started, cpu_started = time.perf_counter(), time.process_time()
    stream = ArchiveStream(archive)
    if kind == "release":
        staged = {"musicbrainz_releases": StagedTable(RELEASE_SCHEMA, scratch),
                  "musicbrainz_tracks": StagedTable(CATALOG_TRACK_SCHEMA, scratch)}
        names = {"releases": "musicbrainz_releases", "tracks": "musicbrainz_tracks"}
        counts = ingest_release_archive(stream, lambda name, batch: staged[names[name]].write(batch), ReleaseIngestCounts())
        documents = counts.releases
    elif kind in TAG_ARCHIVES:
        archive_kind = TAG_ARCHIVES[kind]
        staged = {archive_kind.table: StagedTable(archive_kind.schema, scratch)}
        counts = ingest_tag_archive(stream, archive_kind, staged[archive_kind.table].write, TagIngestCounts())
        documents = counts.documents
    else:
        staged = {f"acousticbrainz_{name}": StagedTable(schema, scratch) for name, schema in TABLE_SCHEMAS.items()}
        counts = ingest_feature_archive(
            stream, lambda name, batch: staged[f"acousticbrainz_{name}"].write(batch), IngestCounts()
        )
        documents = sum(counts.documents.values()) + counts.csv_rows
    if counts.unusable:
        raise RuntimeError(f"{archive.name}: {counts.unusable} unusable documents, e.g. {counts.problems[:3]}")
    rows = {}
    for table, stage in staged.items():
        closed = stage.close()
        rows[table] = closed.rows
        (tables / table).mkdir(parents=True, exist_ok=True)
        closed.path.rename(tables / table / f"{archive.name.split('.')[0]}.parquet")
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if discard:
        archive.unlink()
    return {"archive": archive.name, "kind": kind, "documents": documents, "seconds": seconds, "cpu_seconds": cpu, "rows": rows,
            "worker_peak_rss_mb": _peak_rss_mb()}


def _bytes(paths) -> int:
    return sum(path.stat().st_size for path in paths)


def measure_ingest(folder: Path, tables: Path, scratch: Path, discard: bool) -> dict[str, float]:
    result: dict[str, float] = {}
    # Ingest. The longest runs first (high-level documents parse slowest), so the two workers finish together.
    json_archives = sorted((folder / "acousticbrainz").glob("*.tar.zst"), key=lambda path: "highlevel" not in path.name)
    work = [("json", path, tables) for path in json_archives]
    work += [("release", folder / "musicbrainz" / "release.tar.xz", tables)]
    work += [("fullsize", path, folder / "fullsize_tables") for path in sorted((folder / "fullsize").glob("*.tar.zst"))]
    work += [("csv", path, folder / "csv_tables") for path in sorted((folder / "acousticbrainz-csv").glob("*.tar.zst"))]
    work += [(entity, folder / "musicbrainz" / f"{entity}.tar.xz", tables) for entity in ("release-group", "artist")]
    started = time.perf_counter()
    runs: list[dict] = []
    # Workers are fresh interpreters, as the partition runs of `albumrec materialize` are.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(INGEST_WORKERS, mp_context=context) as pool:
        jobs = [
            (label, pool.submit(ingest_archive, "feature" if label in ("json", "fullsize", "csv") else label,
                                path, out, scratch, discard))
            for label, path, out in work
        ]
        for label, job in jobs:
            run = job.result()
            if label == "json":  # the two kinds' documents differ in size: rates of each
                label = f"json-{'highlevel' if 'highlevel' in run['archive'] else 'lowlevel'}"
            runs.append({**run, "label": label})
    result["ingest_wall_seconds"] = time.perf_counter() - started
    result["ingest_worker_peak_rss_mb"] = max(run["worker_peak_rss_mb"] for run in runs)
    for label in ("json-lowlevel", "json-highlevel", "fullsize", "csv", "release", "release-group", "artist"):
        chosen = [run for run in runs if run["label"] == label]
        documents, seconds = sum(r["documents"] for r in chosen), sum(r["seconds"] for r in chosen)
        result[f"{label}_documents"] = documents
        result[f"{label}_seconds"] = seconds
        result[f"{label}_cpu_seconds"] = sum(r["cpu_seconds"] for r in chosen)
        result[f"{label}_per_second"] = documents / seconds
        result[f"{label}_per_cpu_second"] = documents / result[f"{label}_cpu_seconds"]
        result[f"{label}_longest_seconds"] = max(r["seconds"] for r in chosen)
    json_runs = [run for run in runs if run["label"].startswith("json")]
    result["lowlevel_rows"] = sum(run["rows"]["acousticbrainz_lowlevel"] for run in json_runs)
    result["highlevel_rows"] = sum(run["rows"]["acousticbrainz_highlevel"] for run in json_runs)
    return result


def measure(folder: Path, discard: bool, ingest: bool = True) -> dict[str, float]:
    """The figures of one size; `ingest=False` measures the steps after ingest again on kept tables."""
    scratch, tables = folder / "scratch", folder / "tables"
    scratch.mkdir(parents=True, exist_ok=True)
    result: dict[str, float] = measure_ingest(folder, tables, scratch, discard) if ingest else {}

    import duckdb
    import pandas as pd
    import pyarrow as pa

    from albumrec_pipeline.core.albums import (
        SCORING_COLUMNS,
        AlbumThresholds,
        RankingOptions,
        album_ranking_sql,
        pooled_scores_sql,
        score_feature_batches,
    )
    from albumrec_pipeline.core.catalog import (
        CandidateOptions,
        EngineSettings,
        candidate_tracklists_sql,
        compact_recording_features,
        connect,
        copy_to_parquet,
        parquet_source,
        recording_tags_sql,
        write_candidate_features,
    )
    from albumrec_pipeline.core.dataset import encode_features
    from albumrec_pipeline.core.feature_columns import encoded_feature_columns
    from albumrec_pipeline.core.model_artifacts import (
        FittedScaler,
        TrainedPreferenceModel,
    )
    from albumrec_pipeline.core.network import PreferenceNet
    from albumrec_pipeline.storage.tables import StagedTable, TableFiles

    def files(name: str) -> list[Path]:
        return sorted((tables / name).glob("*.parquet"))

    def source(name: str) -> str:
        return parquet_source([str(path) for path in files(name)])

    # The catalog engine's defaults: 1 GB for DuckDB, a thread per core, spilling to scratch.
    settings = EngineSettings(memory_limit="1GB", temp_directory=str(scratch / "duckdb"))

    # When a query fails within the engine's defaults (out of memory), the failure is recorded and the
    # query run again with one thread, then with twice the memory, so the steps after it can be measured.
    fallbacks = (
        ("1 thread", EngineSettings(memory_limit="1GB", threads=1, temp_directory=settings.temp_directory)),
        ("2 GB", EngineSettings(memory_limit="2GB", temp_directory=settings.temp_directory)),
    )

    def timed(name: str, query: str | None, destination: Path, compression: str = "zstd", write=None) -> int:
        """`write(connection)`, when given instead of a query, writes `destination` and returns its rows."""
        attempts = (("defaults", settings), *fallbacks)
        for number, (label, engine) in enumerate(attempts):
            started = time.perf_counter()
            connection = connect(engine)  # each asset opens its own connection and closes it when done
            try:
                rows = write(connection) if write else copy_to_parquet(connection, query, destination, compression)
            except duckdb.Error as error:
                if number == len(attempts) - 1:
                    raise
                first_line = str(error).splitlines()[0]
                result.setdefault(f"{name}_failures", []).append(
                    f"{label}: {type(error).__name__} after {time.perf_counter() - started:.1f} s: {first_line}"
                )
                continue
            finally:
                connection.close()
            result[f"{name}_seconds"] = time.perf_counter() - started
            result[f"{name}_settings"] = label
            result[f"peak_after_{name}_mb"] = _peak_rss_mb()
            return rows
        raise AssertionError("unreachable")

    compacted = tables / "recording_features" / "recording_features.parquet"
    result["recordings_compacted"] = timed(
        "compaction", None, compacted,
        write=lambda connection: compact_recording_features(
            connection, [str(path) for path in files("acousticbrainz_lowlevel")],
            [str(path) for path in files("acousticbrainz_highlevel")], compacted,
        ),
    )
    candidates = scratch / "candidates.parquet"
    no_labels = "SELECT recording_id FROM (SELECT NULL::VARCHAR AS recording_id) WHERE false"
    result["candidate_tracks"] = timed(
        "candidates", candidate_tracklists_sql(source("musicbrainz_releases"), source("musicbrainz_tracks"), no_labels,
                                               CandidateOptions()), candidates,
    )
    features = scratch / "features.parquet"
    candidate_source = parquet_source([str(candidates)])
    # As candidate_track_features does: the features of the candidates' recordings, with their tags.
    tags = recording_tags_sql(
        source("musicbrainz_releases"), source("musicbrainz_tracks"), f"SELECT DISTINCT recording_id FROM {candidate_source}",
        source("musicbrainz_release_group_tags"), source("musicbrainz_artist_tags"),
    )
    result["candidate_recordings_with_features"] = timed(
        "candidate_features", None, features,
        write=lambda connection: write_candidate_features(
            connection, candidate_source, parquet_source([str(compacted)]), features, False, tags
        ),
    )

    # A network of albumrec's shape over the original's 110 inputs; its weights do not change its speed.
    columns = encoded_feature_columns()
    sample = next(TableFiles((_local(features),)).iter_batches(50_000)).to_pandas().dropna(subset=["danceable"])
    sample["release_year"] = sample["release_year"].fillna(1990)
    scaler = FittedScaler.fit(encode_features(sample)[columns])
    model = TrainedPreferenceModel(PreferenceNet(len(columns)), columns, pd.DataFrame())
    schema = pa.schema([("recording_id", pa.string()), ("artist", pa.string()), ("like_probability", pa.float64())])
    own = StagedTable(schema, scratch)
    started = time.perf_counter()
    batches = (
        batch.to_pandas()
        for batch in TableFiles((_local(features),)).iter_batches(SCORE_BATCH_ROWS, columns=SCORING_COLUMNS)
    )
    for batch in score_feature_batches(batches, scaler, model):
        own.write(batch)
    own = own.close()
    network_seconds = time.perf_counter() - started
    scores = scratch / "scores.parquet"
    result["recordings_scored"] = timed("pooling", pooled_scores_sql(parquet_source([str(own.path)]), ARTIST_POOLING), scores)
    result["scoring_seconds"] = network_seconds + result.pop("pooling_seconds")
    result["peak_after_scoring_mb"] = result.pop("peak_after_pooling_mb")
    result["albums_ranked"] = timed(
        "ranking", album_ranking_sql(candidate_source, parquet_source([str(scores)]), AlbumThresholds(), RankingOptions()),
        scratch / "albums.parquet",
    )
    result["after_ingest_seconds"] = sum(
        result[f"{step}_seconds"]
        for step in ("compaction", "candidates", "candidate_features", "scoring", "ranking")
    )

    # Disk: what each table takes.
    for name in ("acousticbrainz_lowlevel", "acousticbrainz_highlevel", "musicbrainz_releases", "musicbrainz_tracks",
                 "musicbrainz_release_group_tags", "musicbrainz_artist_tags"):
        result[f"{name}_bytes"] = _bytes(files(name))
    result["recording_features_bytes"] = compacted.stat().st_size
    result["csv_lowlevel_bytes"] = _bytes((folder / "csv_tables" / "acousticbrainz_lowlevel").glob("*.parquet"))
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _local(path: Path):
    from upath import UPath

    return UPath(path)


# --- driver ---------------------------------------------------------------------------------------


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _json_line(command: list[str]) -> dict:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[1:])} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def run_size(submissions: int, workdir: Path, keep: bool, reuse: bool = False) -> dict[str, float]:
    folder = workdir / f"catalog-{submissions}"
    row: dict = {"load_before": _load()}
    if reuse and (folder / "generated.json").is_file():
        for name in ("tables", "scratch", "fullsize_tables", "csv_tables"):  # a measurement cut short
            shutil.rmtree(folder / name, ignore_errors=True)
        row.update(json.loads((folder / "generated.json").read_text()))
        row.setdefault("generate_seconds", float("nan"))
    else:
        shutil.rmtree(folder, ignore_errors=True)
        started = time.perf_counter()
        row.update(_json_line([sys.executable, __file__, "--generate", str(submissions), "--workdir", str(workdir)]))
        row["generate_seconds"] = time.perf_counter() - started
    row["disk_after_generating_gb"] = _tree_bytes(folder) / 1e9
    command = [sys.executable, __file__, "--measure", str(submissions), "--workdir", str(workdir)]
    started = time.perf_counter()
    row.update(_json_line(command + (["--keep"] if keep else [])))
    row["measure_seconds"] = time.perf_counter() - started
    row["load_after"] = _load()
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return row


def remeasure_after_ingest(saved: dict, workdir: Path) -> dict:
    """`saved`'s figures with the steps after ingest measured again, in a fresh process, on the tables
    a `--keep` run left: for a change to those steps, without generating and ingesting again."""
    submissions = saved["submissions"]
    if not (workdir / f"catalog-{submissions}" / "tables").is_dir():
        raise SystemExit(f"no kept tables for {submissions:,} submissions in {workdir} (run with --keep first)")
    print(f"{submissions:,} submissions: the steps after ingest, on the kept tables ...", flush=True)
    fresh = _json_line([sys.executable, __file__, "--measure", str(submissions), "--workdir", str(workdir),
                        "--keep", "--skip-ingest"])
    row = {key: value for key, value in saved.items() if not key.endswith(("_failures", "_settings"))}
    row.update(fresh)
    return row


def _tree_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _mb(value: float) -> str:
    return f"{value / 1e6:,.0f} MB"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _catalog_tables(row: dict) -> float:
    return row["acousticbrainz_lowlevel_bytes"] + row["acousticbrainz_highlevel_bytes"]


def _peak(row: dict) -> float:
    return max(row["peak_rss_mb"], row["ingest_worker_peak_rss_mb"])


def _rates(row: dict, label: str) -> str:
    """Documents per second of an archive's run (wall clock), and per CPU-second in brackets."""
    return f"{row[f'{label}_per_second']:,.0f} ({row[f'{label}_per_cpu_second']:,.0f})"


def _step(row: dict, name: str) -> str:
    """A step's time, marked when it ran only after the engine's defaults failed (see `measure`)."""
    text = _duration(row[f"{name}_seconds"])
    return text if row.get(f"{name}_settings", "defaults") == "defaults" else f"{text} ({row[f'{name}_settings']})*"


def size_table(rows: list[dict]) -> str:
    """Two tables: ingest rates; then the steps after ingest, memory and disk."""
    lines = [
        (
            "| submissions | recordings with features | releases | full-size LL docs/s per core (per CPU-s) "
            "| catalog LL docs/s per core | catalog HL docs/s per core | CSV lines/s per core | releases/s per core "
            "| load average (before -> after) |"
        ),
        "|" + "---:|" * 8 + "---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['submissions']:,} | {row['recordings_compacted']:,} | {row['release_documents']:,} "
            f"| {_rates(row, 'fullsize')} | {_rates(row, 'json-lowlevel')} | {_rates(row, 'json-highlevel')} "
            f"| {_rates(row, 'csv')} | {_rates(row, 'release')} | {row['load_before']} -> {row['load_after']} |"
        )
    lines += [
        "",
        (
            "| submissions | compaction | candidate build | candidate features and tags | scoring | ranking "
            "| after ingest | peak RSS (measuring / ingest worker) | catalog tables per M submissions "
            "| compacted per M submissions | catalog tables / compacted |"
        ),
        "|" + "---:|" * 11,
    ]
    for row in rows:
        million = row["submissions"] / 1e6
        lines.append(
            f"| {row['submissions']:,} | {_step(row, 'compaction')} | {_step(row, 'candidates')} "
            f"| {_step(row, 'candidate_features')} | {_duration(row['scoring_seconds'])} "
            f"| {_step(row, 'ranking')} | {_duration(row['after_ingest_seconds'])} "
            f"| {row['peak_rss_mb']:,.0f} / {row['ingest_worker_peak_rss_mb']:,.0f} MB "
            f"| {_mb(_catalog_tables(row) / million)} | {_mb(row['recording_features_bytes'] / million)} "
            f"| {_catalog_tables(row) / row['recording_features_bytes']:.1f}x |"
        )
    failures = [
        f"{row['submissions']:,}, {key.removesuffix('_failures')}: {failure}"
        for row in rows for key in sorted(row) if key.endswith("_failures") for failure in row[key]
    ]
    if failures:
        lines += ["", "\\* within the engine's defaults (1 GB, a thread per core) the query failed:"]
        lines += [f"- {failure}" for failure in failures]
    return "\n".join(lines)


@dataclass(frozen=True)
class Download:
    name: str
    feature_set: str
    lowlevel_documents: int  # full-size low-level JSON documents
    highlevel_documents: int
    csv_lines: int  # per CSV file (three files)
    submissions: int  # what compaction reads, per kind


DOWNLOADS = (
    Download("(a) full: low-level JSON (589 GB) + high-level JSON (39 GB) + MusicBrainz", "full",
             REAL_SUBMISSIONS, REAL_SUBMISSIONS, 0, REAL_SUBMISSIONS),
    Download("(b) practical: high-level JSON (39 GB) + CSV feature dumps + MusicBrainz", "highlevel+compact",
             0, REAL_SUBMISSIONS, REAL_SUBMISSIONS, REAL_SUBMISSIONS),
    Download("(c) the 100k-document sample dumps + MusicBrainz", "full",
             REAL_SAMPLE_DOCUMENTS, REAL_SAMPLE_DOCUMENTS, 0, REAL_SAMPLE_DOCUMENTS),
    Download("(d) the CSV feature dumps + MusicBrainz", "compact", 0, 0, REAL_SUBMISSIONS, REAL_SUBMISSIONS),
)


def extrapolate(row: dict, cores: int, download: Download) -> dict[str, float]:
    """Ingest and after-ingest times for one download, from the measured rates of `row` (linear scaling).

    Rates are per CPU-second, what a core does when the machine is not shared.
    Ingest: the archives are independent partitions, so with `cores` workers it takes the summed
    work over the cores, but no less than the longest single archive. Compaction scales with the
    submissions, scoring with the recordings with features (both as submissions), the candidate
    steps and the ranking with the releases; they run once, at the measured (2-core) speed.
    """
    archives: list[float] = []  # seconds of each archive on one core

    def spread(documents: int, per_second: float, parts: int) -> None:
        if documents:
            archives.extend([documents / parts / per_second] * parts)

    parts = REAL_ARCHIVES if download.submissions == REAL_SUBMISSIONS else 1
    spread(download.lowlevel_documents, row["fullsize_per_cpu_second"], parts)
    spread(download.highlevel_documents, row["json-highlevel_per_cpu_second"], parts)
    spread(download.csv_lines * 3, row["csv_per_cpu_second"], 3)
    spread(REAL_RELEASES, row["release_per_cpu_second"], 1)
    spread(REAL_RELEASE_GROUPS, row["release-group_per_cpu_second"], 1)
    spread(REAL_ARTISTS, row["artist_per_cpu_second"], 1)
    ingest = max(sum(archives) / cores, max(archives))
    by_submissions = download.submissions / row["submissions"]
    by_releases = REAL_RELEASES / row["release_documents"]
    after = (
        row["compaction_seconds"] * by_submissions
        + (row["candidates_seconds"] + row["candidate_features_seconds"] + row["ranking_seconds"]) * by_releases
        + row["scoring_seconds"] * by_submissions
    )
    million = row["submissions"] / 1e6
    csv_share = download.csv_lines / REAL_SUBMISSIONS
    tables = (
        (row["acousticbrainz_lowlevel_bytes"] / million) * (download.lowlevel_documents / 1e6)
        + (row["acousticbrainz_highlevel_bytes"] / million) * (download.highlevel_documents / 1e6)
        + (row["csv_lowlevel_bytes"] / (row["csv_documents"] / 3 / 1e6)) * (download.csv_lines / 1e6) * (csv_share > 0)
    )
    musicbrainz = sum(
        row[f"{name}_bytes"]
        for name in ("musicbrainz_releases", "musicbrainz_tracks", "musicbrainz_release_group_tags", "musicbrainz_artist_tags")
    ) * by_releases
    return {
        "ingest_core_hours": sum(archives) / 3600,
        "ingest_seconds": ingest,
        "after_seconds": after,
        "total_seconds": ingest + after,
        "tables_bytes": tables + musicbrainz,
        "compacted_bytes": row["recording_features_bytes"] / million * (download.submissions / 1e6),
    }


def extrapolation_table(row: dict) -> str:
    lines = [
        (
            "| download | feature set | ingest work | 2 cores: ingest | 2 cores: total | 16 cores: ingest "
            "| 16 cores: total | compaction to ranking (once) | catalog tables | compacted table |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for download in DOWNLOADS:
        two, sixteen = extrapolate(row, 2, download), extrapolate(row, 16, download)
        lines.append(
            f"| {download.name} | `{download.feature_set}` | {two['ingest_core_hours']:,.1f} core-h "
            f"| {_duration(two['ingest_seconds'])} | {_duration(two['total_seconds'])} "
            f"| {_duration(sixteen['ingest_seconds'])} | {_duration(sixteen['total_seconds'])} "
            f"| {_duration(two['after_seconds'])} | {two['tables_bytes'] / 1e9:,.1f} GB "
            f"| {two['compacted_bytes'] / 1e9:,.1f} GB |"
        )
    return "\n".join(lines)


def verdicts(rows: list[dict]) -> list[str]:
    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    slowest = min(rows, key=lambda row: row["fullsize_per_cpu_second"])
    wall = ", ".join(f"{row['fullsize_per_second']:,.0f}/s" for row in rows)
    peaks = [_peak(row) for row in rows]
    largest = max(rows, key=lambda row: row["submissions"])
    flat = max(peaks) <= 1.25 * min(peaks)
    ratio = (_catalog_tables(largest) + largest["recording_features_bytes"]) / largest["recording_features_bytes"]
    found = [
        (
            f"full-size low-level ingest >= 2,000 documents/s per core at every size: "
            f"{verdict(slowest['fullsize_per_cpu_second'] >= 2000)} (slowest {slowest['fullsize_per_cpu_second']:,.0f} "
            f"per CPU-second at {slowest['submissions']:,} submissions; by the wall clock, sharing the machine, "
            f"{wall})"
        ),
        (
            f"peak RSS <= 2 GB at every size, flat: {verdict(max(peaks) <= 2048 and flat)} "
            f"({', '.join(f'{peak:,.0f} MB' for peak in peaks)}; largest/smallest {max(peaks) / min(peaks):.2f})"
        ),
    ]
    after = largest["after_ingest_seconds"]
    if largest["submissions"] >= 10_000_000:
        found.append(
            f"compaction + candidates + scoring + ranking of the 10M-submission catalog <= 5 minutes: "
            f"{verdict(after <= 300)} ({_duration(after)})"
        )
    else:
        found.append(
            f"compaction + candidates + scoring + ranking of the 10M-submission catalog <= 5 minutes: not measured "
            f"(largest size {largest['submissions']:,}: {_duration(after)})"
        )
    found.append(
        f"disk <= 1.5x the Parquet of the chosen rows alone: {verdict(ratio <= 1.5)} ({ratio:.1f}x: the raw "
        f"submission tables, {_catalog_tables(largest) / largest['recording_features_bytes']:.1f}x, are kept beside "
        f"the compacted table so that a re-ingested archive can be re-compacted; the compacted table alone is 1.0x)"
    )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 3_000_000, 10_000_000],
                        help="submissions (of each kind) in each catalog")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "albumrec-catalog-benchmark")
    parser.add_argument("--keep", action="store_true", help="keep the generated dumps and tables")
    parser.add_argument("--reuse", action="store_true", help="measure dumps generated (and kept) by an earlier run")
    parser.add_argument("--save", type=Path, help="also write each size's figures to this JSON file")
    parser.add_argument("--report", type=Path, nargs="+", help="print the tables of figures saved by --save, and exit")
    parser.add_argument(
        "--after-ingest", type=Path, metavar="SAVED",
        help="with tables kept by --keep: measure the steps after ingest again, taking the other figures from SAVED (a --save file)",
    )
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-ingest", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.report:
        report(sorted((row for path in arguments.report for row in json.loads(path.read_text())),
                      key=lambda row: row["submissions"]))
        return 0
    if arguments.generate:
        print(json.dumps(generate(arguments.generate, arguments.workdir / f"catalog-{arguments.generate}")))
        return 0
    if arguments.measure:
        folder = arguments.workdir / f"catalog-{arguments.measure}"
        print(json.dumps(measure(folder, discard=not arguments.keep, ingest=not arguments.skip_ingest)))
        return 0
    if arguments.after_ingest:
        saved = {row["submissions"]: row for row in json.loads(arguments.after_ingest.read_text())}
        rows = [remeasure_after_ingest(saved[size], arguments.workdir) for size in arguments.sizes]
        if arguments.save:
            arguments.save.write_text(json.dumps(rows, indent=1))
        report(rows)
        return 0
    rows = []
    for size in arguments.sizes:
        print(f"{size:,} submissions: generating the dumps, then measuring in a fresh process ...", flush=True)
        row = run_size(size, arguments.workdir, arguments.keep, arguments.reuse)
        print(
            f"  generated in {_duration(row['generate_seconds'])} ({row['disk_after_generating_gb']:.1f} GB; "
            f"{row['recordings_with_features']:,} recordings with features: {row['single_submission_share']:.0%} with "
            f"one submission, median {row['median_submissions']:.0f}, 99th percentile {row['p99_submissions']:.0f}, "
            f"most {row['max_submissions']:,}); measured in {_duration(row['measure_seconds'])}: ingest "
            f"{_duration(row['ingest_wall_seconds'])} on {INGEST_WORKERS} workers, after ingest "
            f"{_duration(row['after_ingest_seconds'])}; load average {row['load_before']} -> {row['load_after']}",
            flush=True,
        )
        for key in sorted(key for key in row if key.endswith("_failures")):
            step = key.removesuffix("_failures")
            print(f"  {step}: failed with {'; '.join(row[key])}; passed with {row[f'{step}_settings']}", flush=True)
        rows.append(row)
        if arguments.save:
            arguments.save.write_text(json.dumps(rows, indent=1))
        # After every size: a run cut short still leaves the figures of the sizes it finished.
        report(rows)
    return 0


def report(rows: list[dict]) -> None:
    largest = max(rows, key=lambda row: row["submissions"])
    print(
        f"\n{os.cpu_count()} cores. Full-size low-level documents: {largest['full_size_document_kb']:.0f} KB each; "
        f"catalog documents hold what albumrec reads. Ingest rates per core: documents over the summed time of "
        f"the archives' runs ({INGEST_WORKERS} at a time).\n"
    )
    print(size_table(rows))
    print(
        f"\nExtrapolated from {largest['submissions']:,} submissions to the real dumps ({REAL_SUBMISSIONS / 1e6:.1f}M "
        f"low-level and high-level submissions, {REAL_RECORDINGS / 1e6:.1f}M recordings, {REAL_RELEASES / 1e6:.1f}M "
        f"releases, {REAL_RELEASE_GROUPS / 1e6:.1f}M release groups, {REAL_ARTISTS / 1e6:.1f}M artists; "
        f"{REAL_ARCHIVES} archives per JSON dump):\n"
    )
    print(extrapolation_table(largest))
    print()
    for line in verdicts(rows):
        print(f"- {line}")
    print(flush=True)


if __name__ == "__main__":
    sys.exit(main())
