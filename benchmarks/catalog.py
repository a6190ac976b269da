"""The offline catalog at scale: ingest synthetic dumps, score every recording, rank every album.

    python benchmarks/catalog.py                     # 100,000 and 1,000,000 recordings (about 10 minutes)
    python benchmarks/catalog.py --sizes 20000 200000
    python benchmarks/catalog.py --help

For each size it writes synthetic dumps in the real formats (AcousticBrainz low- and high-level
JSON dumps as `.tar.zst`, the MusicBrainz `release.tar.xz`), then, in a fresh process whose
peak memory is measured, runs the same code the assets run: ingest every archive, build the
candidate tracklists and their features, score every recording with a network of albumrec's
shape, and rank every album (release group). Each size is generated and measured in processes
of its own, so one size's memory does not hide in the next one's figure.

The catalog's documents hold the values albumrec reads (a few kilobytes, like the demo
world's). Real low-level documents hold every descriptor essentia computes, about 85 KB each,
and parsing those is what ingest spends its time on; so the ingest rate of such full-size
documents is measured too, on a sample of a fiftieth of each size.

Targets on a 2-core machine: at least 2,000 full-size low-level documents per second per core,
500,000 recordings scored per second, a 1,000,000-recording catalog ranked in under a minute
after ingest, and under 2 GB of peak memory at every size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from albumrec_pipeline.core.feature_columns import (  # noqa: E402
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    MFCC_COUNT,
    MULTICLASS_MODELS,
)
from albumrec_pipeline.demo.dump_writer import _member, write_tar_zst  # noqa: E402

TRACKS_PER_RELEASE = 10
RELEASES_PER_ARTIST = 8
REISSUE_SHARE = 0.1  # releases that are a second edition of an album
FEATURE_COVERAGE = 0.9  # recordings with both documents
ARCHIVES_PER_KIND = 2
FULL_SIZE_SAMPLE = 50  # full-size documents: one per this many recordings
SCORE_BATCH_ROWS = 100_000  # the track_scores asset's default


# --- synthetic documents ---------------------------------------------------------------------


def _uuids(rng: np.random.Generator, count: int) -> list[str]:
    raw = rng.bytes(16 * count)
    return [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(count)]


def _stats(value: float) -> dict[str, float]:
    return {"dmean": value * 0.1, "dmean2": value * 0.2, "dvar": value * 0.01, "dvar2": value * 0.02,
            "max": value * 3, "mean": value, "median": value * 0.9, "min": value * 0.01, "var": value * 0.5}


def lowlevel_document(rng: np.random.Generator, full_size: bool) -> dict:
    """A low-level document with every value albumrec reads; `full_size` adds the rest of what essentia
    writes (band energies, covariance matrices, beat positions, ...) to the size of a real one."""
    key = CATEGORICAL_VOCABULARIES["key_key"]
    values = rng.random(16)
    document = {
        "lowlevel": {
            "average_loudness": float(values[0]),
            "dynamic_complexity": float(values[1] * 10),
            "mfcc": {"mean": (rng.standard_normal(MFCC_COUNT) * 20).tolist()},
            "spectral_centroid": _stats(float(500 + values[2] * 2000)),
            "spectral_rolloff": _stats(float(1000 + values[3] * 4000)),
            "spectral_flux": _stats(float(values[4] * 0.2)),
        },
        "rhythm": {"bpm": float(60 + values[5] * 120), "beats_count": int(200 + values[6] * 400)},
        "tonal": {
            "key_key": key[int(values[7] * 12)], "key_scale": "minor" if values[8] < 0.4 else "major",
            "chords_key": key[int(values[9] * 12)], "chords_scale": "minor" if values[10] < 0.4 else "major",
            "chords_changes_rate": float(values[11] * 0.1), "chords_number_rate": float(values[12] * 0.01),
        },
        "metadata": {"audio_properties": {"length": float(120 + values[13] * 300)}, "tags": {"artist": ["A"]}},
    }
    if full_size:
        low, rhythm, tonal = document["lowlevel"], document["rhythm"], document["tonal"]
        for name, width in (("barkbands", 27), ("erbbands", 40), ("melbands", 40), ("spectral_contrast_coeffs", 6),
                            ("spectral_contrast_valleys", 6), ("gfcc", 13)):
            low[name] = {stat: rng.random(width).tolist() for stat in _stats(1.0)}
        for name in ("barkbands_crest", "barkbands_flatness_db", "barkbands_kurtosis", "barkbands_skewness",
                     "barkbands_spread", "dissonance", "erbbands_crest", "erbbands_flatness_db", "erbbands_kurtosis",
                     "erbbands_skewness", "erbbands_spread", "hfc", "melbands_crest", "melbands_flatness_db",
                     "melbands_kurtosis", "melbands_skewness", "melbands_spread", "pitch_salience",
                     "silence_rate_20dB", "silence_rate_30dB", "silence_rate_60dB", "spectral_complexity",
                     "spectral_decrease", "spectral_energy", "spectral_energyband_high", "spectral_energyband_low",
                     "spectral_energyband_middle_high", "spectral_energyband_middle_low", "spectral_entropy",
                     "spectral_kurtosis", "spectral_rms", "spectral_skewness", "spectral_spread",
                     "spectral_strongpeak", "zerocrossingrate"):
            low[name] = _stats(float(rng.random()))
        low["mfcc"]["cov"] = rng.random((MFCC_COUNT, MFCC_COUNT)).tolist()
        low["mfcc"]["icov"] = rng.random((MFCC_COUNT, MFCC_COUNT)).tolist()
        low["gfcc"]["cov"] = rng.random((13, 13)).tolist()
        low["gfcc"]["icov"] = rng.random((13, 13)).tolist()
        rhythm["beats_position"] = np.cumsum(rng.random(rhythm["beats_count"]) * 0.6).round(6).tolist()
        rhythm["beats_loudness_band_ratio"] = {stat: rng.random(6).tolist() for stat in _stats(1.0)}
        for name in ("beats_loudness", "bpm_histogram_first_peak_bpm", "bpm_histogram_second_peak_bpm",
                     "bpm_histogram_first_peak_weight", "bpm_histogram_second_peak_spread", "onset_rate"):
            rhythm[name] = _stats(float(rng.random()))
        tonal["hpcp"] = {stat: rng.random(36).tolist() for stat in _stats(1.0)}
        tonal["thpcp"] = rng.random(36).tolist()
        tonal["chords_histogram"] = rng.random(24).tolist()
        for name in ("hpcp_entropy", "chords_strength", "hpcp_crest"):
            tonal[name] = _stats(float(rng.random()))
    return document


def highlevel_document(rng: np.random.Generator) -> dict:
    models = {}
    for model, classes in MULTICLASS_MODELS.items():
        probabilities = rng.dirichlet(np.ones(len(classes)))
        best = int(probabilities.argmax())
        models[model] = {"all": dict(zip(classes, probabilities.tolist())), "probability": float(probabilities[best]),
                         "value": classes[best]}
    for model in (*CONFIDENCE_MODELS, "danceability"):
        positive = float(rng.random())
        label = "danceable" if model == "danceability" else model.removeprefix("mood_")
        models[model] = {"all": {label: positive, f"not_{label}": 1 - positive},
                         "probability": max(positive, 1 - positive), "value": label}
    return {"highlevel": models, "metadata": {"tags": {}}}


def generate_catalog(recordings: int, folder: Path, seed: int = 0) -> dict[str, int]:
    """The dumps of a catalog of `recordings` recordings, in the real archive formats."""
    rng = np.random.default_rng(seed)
    acousticbrainz, musicbrainz = folder / "acousticbrainz", folder / "musicbrainz"
    acousticbrainz.mkdir(parents=True)
    musicbrainz.mkdir(parents=True)
    mbids = sorted(_uuids(rng, recordings))
    covered = [mbid for mbid, keep in zip(mbids, rng.random(recordings) < FEATURE_COVERAGE) if keep]
    chunk = -(-len(covered) // ARCHIVES_PER_KIND)
    for kind in ("lowlevel", "highlevel"):
        dump = f"acousticbrainz-{kind}-json-bench"
        for number in range(ARCHIVES_PER_KIND):
            part = covered[number * chunk : (number + 1) * chunk]
            make = (lambda: lowlevel_document(rng, False)) if kind == "lowlevel" else (lambda: highlevel_document(rng))
            members = ((f"{dump}/{kind}/{m[0:2]}/{m[2]}/{m}-0.json", orjson.dumps(make())) for m in part)
            write_tar_zst(acousticbrainz / f"{dump}-{number}.tar.zst", members, level=1)

    # Releases of ten tracks; a tenth of them a reissue of another album by the same artist.
    order = rng.permutation(recordings)
    album_count = recordings // TRACKS_PER_RELEASE
    artist_ids = _uuids(rng, max(1, album_count // RELEASES_PER_ARTIST))
    release_ids, group_ids = _uuids(rng, album_count), _uuids(rng, album_count)
    lines = Path(tempfile.mkstemp(dir=folder)[1])
    releases = 0
    with open(lines, "wb") as handle:
        for album in range(album_count):
            tracks = [mbids[i] for i in order[album * TRACKS_PER_RELEASE : (album + 1) * TRACKS_PER_RELEASE]]
            artist = artist_ids[album % len(artist_ids)]
            year = int(1960 + rng.integers(0, 62))
            editions = 2 if rng.random() < REISSUE_SHARE else 1
            for edition in range(editions):
                credit = [{"name": f"Artist {artist[:8]}", "joinphrase": "", "artist": {"id": artist, "name": artist[:8]}}]
                release = {
                    "id": release_ids[album] if edition == 0 else str(uuid.uuid4()),
                    "title": f"Album {album}", "status": "Official", "date": f"{year + 10 * edition}-01-01",
                    "artist-credit": credit,
                    "release-group": {"id": group_ids[album], "primary-type": "Album", "secondary-types": [],
                                      "first-release-date": str(year)},
                    "media": [{"position": 1, "track-count": len(tracks), "tracks": [
                        {"id": str(number), "position": number + 1, "title": f"Song {number}",
                         "recording": {"id": recording, "title": f"Song {number}", "artist-credit": credit}}
                        for number, recording in enumerate(tracks)]}],
                }
                handle.write(orjson.dumps(release) + b"\n")
                releases += 1
    import lzma

    with lzma.open(musicbrainz / "release.tar.xz", "wb", preset=1) as compressed:
        with tarfile.open(fileobj=compressed, mode="w|") as tar:
            tar.addfile(*_member("TIMESTAMP", b"2022-06-23\n"))
            tar.add(lines, arcname="mbdump/release")
    lines.unlink()
    return {"recordings": recordings, "covered": len(covered), "albums": album_count, "releases": releases}


def generate_full_size_sample(documents: int, folder: Path, seed: int = 1) -> Path:
    rng = np.random.default_rng(seed)
    dump = "acousticbrainz-lowlevel-json-fullsize"
    members = (
        (f"{dump}/lowlevel/{m[0:2]}/{m[2]}/{m}-0.json", orjson.dumps(lowlevel_document(rng, True)))
        for m in sorted(_uuids(rng, documents))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return write_tar_zst(folder / f"{dump}-0.tar.zst", members, level=3)


# --- measurement, in a process of its own -----------------------------------------------------


def _rss_now_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(folder: Path) -> dict[str, float]:
    import pandas as pd
    import pyarrow as pa

    from albumrec_pipeline.core.albums import (
        SCORING_COLUMNS, AlbumThresholds, RankingOptions, album_ranking_sql, score_feature_batches,
    )
    from albumrec_pipeline.core.archives import ArchiveStream, find_archives
    from albumrec_pipeline.core.catalog import (
        CandidateOptions, EngineSettings, candidate_features_sql, candidate_tracklists_sql, connect, copy_to_parquet,
        parquet_source,
    )
    from albumrec_pipeline.core.dataset import encode_features
    from albumrec_pipeline.core.feature_columns import encoded_feature_columns
    from albumrec_pipeline.core.feature_dumps import TABLE_SCHEMAS, IngestCounts, ingest_feature_archive
    from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
    from albumrec_pipeline.core.network import PreferenceNet
    from albumrec_pipeline.core.releases import (
        CATALOG_TRACK_SCHEMA, RELEASE_SCHEMA, ReleaseIngestCounts, ingest_release_archive,
    )
    from albumrec_pipeline.storage.tables import StagedTable, TableFiles

    scratch, tables = folder / "scratch", folder / "tables"
    result: dict[str, float] = {}

    # Ingest: every archive, one after the other, on one core (each archive is a partition run).
    def ingest_acousticbrainz(archives: dict[str, Path], out: Path) -> tuple[int, float]:
        documents, started = 0, time.perf_counter()
        for key, archive in archives.items():
            staged = {kind: StagedTable(schema, scratch) for kind, schema in TABLE_SCHEMAS.items()}
            counts = ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: staged[kind].write(batch), IngestCounts())
            documents += sum(counts.documents.values())
            for kind, table in staged.items():
                (out / kind).mkdir(parents=True, exist_ok=True)
                table.close().path.rename(out / kind / f"{key}.parquet")
        return documents, time.perf_counter() - started

    full_size = find_archives(folder / "fullsize")
    documents, seconds = ingest_acousticbrainz(full_size, folder / "fullsize_tables")
    result["full_size_documents_per_second"] = documents / seconds
    documents, seconds = ingest_acousticbrainz(find_archives(folder / "acousticbrainz"), tables)
    result["documents_per_second"] = documents / seconds
    started = time.perf_counter()
    staged = {"releases": StagedTable(RELEASE_SCHEMA, scratch), "tracks": StagedTable(CATALOG_TRACK_SCHEMA, scratch)}
    counts = ingest_release_archive(
        ArchiveStream(folder / "musicbrainz" / "release.tar.xz"), lambda name, batch: staged[name].write(batch), ReleaseIngestCounts()
    )
    for name, table in staged.items():
        (tables / name).mkdir(parents=True, exist_ok=True)
        table.close().path.rename(tables / name / "release.parquet")
    result["releases_per_second"] = counts.releases / (time.perf_counter() - started)
    result["rss_after_ingest_mb"], result["peak_after_ingest_mb"] = _rss_now_mb(), _peak_rss_mb()

    # After ingest: candidates, their features, scores, the ranking.
    source = lambda name: parquet_source(sorted(str(p) for p in (tables / name).glob("*.parquet")))  # noqa: E731
    settings = EngineSettings(memory_limit="1GB", temp_directory=str(scratch / "duckdb"))
    ranking_started = time.perf_counter()
    connection = connect(settings)
    connection.register("labelled", pd.DataFrame({"recording_id": pd.Series([], dtype="object")}))
    candidates = scratch / "candidates.parquet"
    copy_to_parquet(connection, candidate_tracklists_sql(
        source("releases"), source("tracks"), "SELECT recording_id FROM labelled", CandidateOptions()), candidates)
    features = scratch / "features.parquet"
    recordings = copy_to_parquet(connection, candidate_features_sql(
        parquet_source([str(candidates)]), source("lowlevel"), source("highlevel"), True), features, compression="lz4")
    # Each asset opens its own connection and closes it when done, which frees DuckDB's memory.
    connection.close()
    result["join_seconds"] = time.perf_counter() - ranking_started
    result["rss_after_join_mb"], result["peak_after_join_mb"] = _rss_now_mb(), _peak_rss_mb()

    # A network of albumrec's shape over the original's 110 inputs; its weights do not change its speed.
    columns = encoded_feature_columns()
    sample = next(TableFiles((_local(features),)).iter_batches(50_000)).to_pandas()
    sample["release_year"] = sample["release_year"].fillna(1990)
    scaler = FittedScaler.fit(encode_features(sample)[columns])
    model = TrainedPreferenceModel(PreferenceNet(len(columns)), columns, pd.DataFrame())
    scores = StagedTable(pa.schema([("recording_id", pa.string()), ("like_probability", pa.float64())]), scratch)
    started = time.perf_counter()
    batches = (
        batch.to_pandas()
        for batch in TableFiles((_local(features),)).iter_batches(SCORE_BATCH_ROWS, columns=SCORING_COLUMNS)
    )
    for batch in score_feature_batches(batches, scaler, model):
        scores.write(batch)
    scores.close()
    result["score_seconds"] = time.perf_counter() - started
    result["recordings_scored"] = scores.rows
    result["recordings_per_second"] = scores.rows / result["score_seconds"]
    result["rss_after_score_mb"], result["peak_after_score_mb"] = _rss_now_mb(), _peak_rss_mb()

    started = time.perf_counter()
    connection = connect(settings)
    albums = copy_to_parquet(connection, album_ranking_sql(
        parquet_source([str(candidates)]), parquet_source([str(scores.path)]), AlbumThresholds(), RankingOptions()),
        scratch / "albums.parquet")
    result["rank_seconds"] = time.perf_counter() - started
    connection.close()
    result["albums_ranked"] = albums
    result["albums_per_second"] = albums / result["rank_seconds"]
    result["after_ingest_seconds"] = time.perf_counter() - ranking_started
    result["candidate_recordings_with_features"] = recordings
    result["peak_rss_mb"] = _peak_rss_mb()
    return result


def _local(path: Path):
    from upath import UPath

    return UPath(path)


# --- driver -------------------------------------------------------------------------------------


def run_size(recordings: int, workdir: Path, keep: bool) -> dict[str, float]:
    folder = workdir / f"catalog-{recordings}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    command = [sys.executable, __file__, "--generate", str(recordings), "--workdir", str(workdir)]
    generated = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    generated["generate_seconds"] = time.perf_counter() - started
    command = [sys.executable, __file__, "--measure", str(recordings), "--workdir", str(workdir)]
    measured = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.splitlines()[-1])
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {**generated, **measured}


def table(rows: list[dict[str, float]]) -> str:
    header = (
        "| recordings | albums | full-size LL docs/s (1 core) | catalog docs/s (1 core) | recordings scored/s "
        "| albums ranked/s | ranked after ingest | peak RSS |"
    )
    lines = [header, "|" + "---:|" * 8]
    for row in rows:
        lines.append(
            f"| {row['recordings']:,} | {row['albums_ranked']:,.0f} | {row['full_size_documents_per_second']:,.0f} "
            f"| {row['documents_per_second']:,.0f} | {row['recordings_per_second']:,.0f} | {row['albums_per_second']:,.0f} "
            f"| {row['after_ingest_seconds']:.1f} s | {row['peak_rss_mb']:,.0f} MB |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000], help="recordings in each catalog")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "albumrec-catalog-benchmark")
    parser.add_argument("--keep", action="store_true", help="keep the generated dumps and tables")
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.generate:
        folder = arguments.workdir / f"catalog-{arguments.generate}"
        summary = generate_catalog(arguments.generate, folder)
        generate_full_size_sample(max(1, arguments.generate // FULL_SIZE_SAMPLE), folder / "fullsize")
        print(json.dumps(summary))
        return 0
    if arguments.measure:
        print(json.dumps(measure(arguments.workdir / f"catalog-{arguments.measure}")))
        return 0
    rows = []
    for size in arguments.sizes:
        print(f"{size:,} recordings: generating the dumps, then measuring in a fresh process ...", flush=True)
        row = run_size(size, arguments.workdir, arguments.keep)
        print(
            f"  generated in {row['generate_seconds']:.0f} s; ingest {row['documents_per_second']:,.0f} docs/s, "
            f"releases {row['releases_per_second']:,.0f}/s; candidates and features {row['join_seconds']:.1f} s, "
            f"scoring {row['score_seconds']:.1f} s, ranking {row['rank_seconds']:.1f} s",
            flush=True,
        )
        rows.append(row)
    print(f"\n{os.cpu_count()} cores; full-size sample: one document per {FULL_SIZE_SAMPLE} recordings\n")
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
