"""The demo world: deterministic, in the real sources' formats, realistic enough to learn from."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from albumrec_pipeline.core.archives import ArchiveStream
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    MULTICLASS_MODELS,
    NUMERIC_AUDIO_COLUMNS,
)
from albumrec_pipeline.core.feature_dumps import CSV_KINDS
from albumrec_pipeline.demo import (
    DemoWorld,
    DemoWorldSpec,
    build_demo_world,
    demo_world_paths,
    is_complete_demo_world,
    write_demo_world,
)
from albumrec_pipeline.demo.__main__ import main as demo_main
from albumrec_pipeline.demo.dump_writer import submission_time
from albumrec_pipeline.demo.reference_figures import REFERENCE_FIGURES


@pytest.fixture(scope="module")
def small_world() -> DemoWorld:
    return build_demo_world(DemoWorldSpec.small())


@pytest.fixture(scope="module")
def full_world() -> DemoWorld:
    return build_demo_world(DemoWorldSpec())


# --- reading feature values straight out of the documents, by their documented paths ---


def _feature(lowlevel: dict[str, Any], highlevel: dict[str, Any], column: str) -> float:
    if column == DANCEABLE_COLUMN:
        return highlevel["highlevel"]["danceability"]["all"]["danceable"]
    if column in CONFIDENCE_MODELS:
        return highlevel["highlevel"][column]["probability"]
    for model, labels in MULTICLASS_MODELS.items():
        for label in labels:
            if column == f"{model}_{label}":
                return highlevel["highlevel"][model]["all"][label]
    if column in MFCC_COLUMNS:
        return lowlevel["lowlevel"]["mfcc"]["mean"][MFCC_COLUMNS.index(column)]
    section, descriptor, statistic = LOWLEVEL_SCALARS[column]
    value = lowlevel[section][descriptor]
    return value if statistic is None else value[statistic]


def _feature_table(world: DemoWorld, recordings: pd.Series) -> pd.DataFrame:
    complete = [
        mbid for mbid in recordings if mbid in world.lowlevel_documents and mbid in world.highlevel_documents
    ]
    rows = [
        {
            column: _feature(world.lowlevel_documents[mbid], world.highlevel_documents[mbid], column)
            for column in NUMERIC_AUDIO_COLUMNS
        }
        for mbid in complete
    ]
    return pd.DataFrame(rows, index=pd.Index(complete, name="mbid"))


# --- determinism ---


def test_same_spec_gives_the_same_world(small_world: DemoWorld) -> None:
    again = build_demo_world(DemoWorldSpec.small())
    pd.testing.assert_frame_equal(again.liked_tracks, small_world.liked_tracks)
    assert again.lowlevel_documents == small_world.lowlevel_documents
    assert again.highlevel_documents == small_world.highlevel_documents
    assert again.releases == small_world.releases
    assert again.resubmissions == small_world.resubmissions


def test_another_seed_gives_another_world(small_world: DemoWorld) -> None:
    other = build_demo_world(DemoWorldSpec.small(seed=7))
    assert not set(other.liked_tracks["mbid"]) & set(small_world.liked_tracks["mbid"])
    assert other.releases != small_world.releases


def test_invalid_specs_are_refused() -> None:
    with pytest.raises(ValueError):
        DemoWorldSpec(artists=10, labelled_artists=20)
    with pytest.raises(ValueError):
        DemoWorldSpec(labelled_artists=10, labelled_tracks=1000, max_labelled_tracks_per_artist=40)


# --- layout and formats on disk ---


def _members(path: Path) -> dict[str, bytes]:
    return {member.name: member.read() for member in ArchiveStream(path)}


def test_written_layout_and_formats(small_world: DemoWorld, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    paths = write_demo_world(small_world, root)
    assert paths == demo_world_paths(root)
    assert paths.acousticbrainz_dumps == root / "acousticbrainz"
    assert paths.release_archive == root / "musicbrainz" / "release.tar.xz"
    assert paths.liked_tracks_path == root / "liked_tracks.csv"

    archives = sorted(path.name for path in paths.acousticbrainz_dumps.iterdir())
    parts = small_world.spec.archives_per_kind
    assert archives == sorted(
        [f"acousticbrainz-{kind}-json-demo-{n}.tar.zst" for kind in ("lowlevel", "highlevel") for n in range(parts)]
        + [f"acousticbrainz-lowlevel-features-demo-{csv}.tar.zst" for csv in ("lowlevel", "rhythm", "tonal")]
    )
    for kind, documents in (("lowlevel", small_world.lowlevel_documents), ("highlevel", small_world.highlevel_documents)):
        found: dict[tuple[str, int], dict] = {}
        archive_of: dict[tuple[str, int], int] = {}
        times: list[float] = []
        for n in range(parts):
            members = _members(paths.acousticbrainz_dumps / f"acousticbrainz-{kind}-json-demo-{n}.tar.zst")
            assert f"acousticbrainz-{kind}-json-demo/COPYING" in members
            for name in (name for name in members if name.endswith(".json")):
                mbid, offset = name.rsplit("/", 1)[1].removesuffix(".json").rsplit("-", 1)
                assert name == f"acousticbrainz-{kind}-json-demo/{kind}/{mbid[0:2]}/{mbid[2]}/{mbid}-{offset}.json"
                found[(mbid, int(offset))] = json.loads(members[name])
                archive_of[(mbid, int(offset))] = n
                times.append(submission_time(mbid, int(offset)))
        assert {mbid: doc for (mbid, offset), doc in found.items() if offset == 0} == documents
        assert {mbid: doc for (mbid, offset), doc in found.items() if offset == 1} == small_world.resubmissions[kind]
        # The dumps are written in submission order, across archives and within each.
        assert times == sorted(times)
        # A recording's later submission never comes before its first, and is mostly in another archive.
        twice = [mbid for (mbid, offset) in found if offset == 1]
        assert all(archive_of[(mbid, 0)] <= archive_of[(mbid, 1)] for mbid in twice)
        assert sum(archive_of[(mbid, 0)] != archive_of[(mbid, 1)] for mbid in twice) > len(twice) / 4

    for csv_kind, header in CSV_KINDS.items():
        name = f"acousticbrainz-lowlevel-features-demo-{csv_kind}"
        members = _members(paths.acousticbrainz_dumps / f"{name}.tar.zst")
        text = members[f"acousticbrainz-lowlevel-features-demo/{name}.csv"].decode("utf-8")
        lines = text.split("\r\n")
        assert lines[0] == ",".join(header) and lines[-1] == ""
        rows = len(small_world.lowlevel_documents) + len(small_world.resubmissions["lowlevel"])
        assert len(lines) - 2 == rows

    members = _members(paths.release_archive)
    assert set(members) == {"TIMESTAMP", "COPYING", "mbdump/release"}
    lines = members["mbdump/release"].decode("utf-8").splitlines()
    assert len(lines) == len(small_world.releases)
    for line in lines:
        release = json.loads(line)
        assert release["status"] == "Official" and release["release-group"]["primary-type"] == "Album"
        for medium in release["media"]:
            assert medium["track-count"] == len(medium["tracks"]) > 0
            for track in medium["tracks"]:
                assert isinstance(track["recording"]["id"], str)

    with open(paths.liked_tracks_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["mbid", "liked"]
    assert {liked for _, liked in rows[1:]} == {"0", "1"}
    assert len(rows) - 1 == len(small_world.liked_tracks)

    assert is_complete_demo_world(root, small_world.spec)
    # The hidden truth stays in memory: nothing under the root carries it.
    top_level = {path.name for path in root.iterdir()}
    assert top_level == {"acousticbrainz", "musicbrainz", "liked_tracks.csv", "demo_world.json"}
    assert "true_like_probability" not in paths.marker_path.read_text(encoding="utf-8")
    assert not list(root.rglob("*.tmp"))


def test_the_first_submission_is_chosen_wherever_the_dumps_put_it(small_world: DemoWorld, tmp_path: Path) -> None:
    """Ingest each JSON archive into its own Parquet file, as the partitions do, and compact: every
    recording gets its offset-0 documents, also when its second submission sits in an earlier-read
    archive or in the same batch."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from albumrec_pipeline.core.catalog import compact_recording_features, connect
    from albumrec_pipeline.core.feature_dumps import (
        TABLE_SCHEMAS,
        IngestCounts,
        ingest_feature_archive,
    )

    paths = write_demo_world(small_world, tmp_path / "demo")
    files: dict[str, list[str]] = {"lowlevel": [], "highlevel": []}
    # Read the archives last to first: the choice must not depend on the order either.
    for archive in sorted(paths.acousticbrainz_dumps.glob("*-json-demo-*.tar.zst"), reverse=True):
        batches: dict[str, list[pa.Table]] = {"lowlevel": [], "highlevel": []}
        ingest_feature_archive(ArchiveStream(archive), lambda kind, batch, into=batches: into[kind].append(batch), IngestCounts())
        for kind, tables in batches.items():
            if tables:
                path = tmp_path / f"{archive.name}.{kind}.parquet"
                pq.write_table(pa.concat_tables(tables).cast(TABLE_SCHEMAS[kind]), path)
                files[kind].append(str(path))
    lowlevel_rows = sum(pq.read_metadata(path).num_rows for path in files["lowlevel"])
    # Ingest drops a later submission only within an archive's batch: those in other archives stay for the choice.
    assert lowlevel_rows > len(small_world.lowlevel_documents)
    connection = connect()
    try:
        compact_recording_features(connection, files["lowlevel"], files["highlevel"], tmp_path / "compacted.parquet")
    finally:
        connection.close()
    chosen = pd.read_parquet(tmp_path / "compacted.parquet")
    assert chosen["mbid"].is_unique and list(chosen["mbid"]) == sorted(chosen["mbid"])
    assert set(chosen["mbid"]) == set(small_world.lowlevel_documents)
    expected = {mbid: document["rhythm"]["bpm"] for mbid, document in small_world.lowlevel_documents.items()}
    assert dict(zip(chosen["mbid"], chosen["bpm"])) == pytest.approx(expected)
    resubmitted = small_world.resubmissions["lowlevel"]
    assert resubmitted and all(
        bpm != resubmitted[mbid]["rhythm"]["bpm"] for mbid, bpm in zip(chosen["mbid"], chosen["bpm"]) if mbid in resubmitted
    )


def test_resubmissions_and_reissues(small_world: DemoWorld) -> None:
    again = small_world.resubmissions["lowlevel"]
    analysed = len(small_world.lowlevel_documents)
    assert len(again) == pytest.approx(small_world.spec.resubmission_share * analysed, abs=0.05 * analysed)
    assert set(again) <= set(small_world.lowlevel_documents)
    for mbid, document in again.items():
        first = small_world.lowlevel_documents[mbid]["rhythm"]["bpm"]
        assert document["rhythm"]["bpm"] in (pytest.approx(2 * first), pytest.approx(first / 2))
    groups: dict[str, list[dict]] = {}
    for release in small_world.releases:
        groups.setdefault(release["release-group"]["id"], []).append(release)
    reissued = [releases for releases in groups.values() if len(releases) > 1]
    assert reissued
    for releases in reissued:
        original, reissue = sorted(releases, key=lambda release: release["date"])
        recordings = [[t["recording"]["id"] for m in r["media"] for t in m["tracks"]] for r in (original, reissue)]
        assert recordings[0] == recordings[1] and original["id"] != reissue["id"]
        assert original["id"] in small_world.candidate_release_ids


# --- same keys as the real documents ---


def _key_paths(node: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    """Every key path in a JSON value (list items as "[]") and the kinds of value found there."""

    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "bool"
        if isinstance(value, (int, float)):
            return "number"
        return type(value).__name__

    found: dict[tuple[str, ...], set[str]] = {}
    children = node.items() if isinstance(node, dict) else (("[]", item) for item in node) if isinstance(node, list) else ()
    for key, value in children:
        path = (*prefix, key)
        if key != "[]" or isinstance(value, (dict, list)):
            found.setdefault(path, set()).add(kind(value))
        for child, kinds in _key_paths(value, path).items():
            found.setdefault(child, set()).update(kinds)
    return found


def _paths_of_files(pattern: str, directory: Path) -> dict[tuple[str, ...], set[str]]:
    merged: dict[tuple[str, ...], set[str]] = {}
    files = sorted(directory.glob(pattern))
    assert files, f"no {pattern} in {directory}"
    for path in files:
        for key, kinds in _key_paths(json.loads(path.read_text(encoding="utf-8"))).items():
            merged.setdefault(key, set()).update(kinds)
    return merged


def _paths_of_documents(documents: list[dict]) -> dict[tuple[str, ...], set[str]]:
    merged: dict[tuple[str, ...], set[str]] = {}
    for document in documents:
        for key, kinds in _key_paths(document).items():
            merged.setdefault(key, set()).update(kinds)
    return merged


@pytest.mark.parametrize(
    ("kind", "pattern", "directory"),
    [
        ("lowlevel", "lowlevel_*.json", "acousticbrainz"),
        ("highlevel", "highlevel_*.json", "acousticbrainz"),
        ("release", "release_lookup_*.json", "musicbrainz"),
    ],
)
def test_every_key_exists_in_the_real_documents(
    small_world: DemoWorld, shared_dir: Path, kind: str, pattern: str, directory: str
) -> None:
    real = _paths_of_files(pattern, shared_dir / "fixtures" / directory)
    documents = {
        "lowlevel": list(small_world.lowlevel_documents.values()),
        "highlevel": list(small_world.highlevel_documents.values()),
        "release": small_world.releases,
    }[kind]
    demo = _paths_of_documents(documents)
    missing = sorted(".".join(path) for path in demo if path not in real)
    assert not missing, f"{kind} keys absent from the real documents: {missing}"
    wrong_kind = sorted(".".join(path) for path, kinds in demo.items() if not kinds <= real[path])
    assert not wrong_kind, f"{kind} values of another kind than in the real documents: {wrong_kind}"


# --- document contents ---


def test_highlevel_models_are_consistent(small_world: DemoWorld) -> None:
    for document in list(small_world.highlevel_documents.values())[:300]:
        models = document["highlevel"]
        assert len(models) == 18
        for model, result in models.items():
            probabilities = result["all"]
            assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-6), model
            assert result["value"] == max(probabilities, key=probabilities.get)
            assert result["probability"] == probabilities[result["value"]]
        for model in CONFIDENCE_MODELS:
            assert 0.5 <= models[model]["probability"] <= 1.0
        assert set(models["genre_dortmund"]["all"]) == set(MULTICLASS_MODELS["genre_dortmund"])


def test_lowlevel_values_are_well_formed(small_world: DemoWorld) -> None:
    for document in small_world.lowlevel_documents.values():
        for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
            assert document["tonal"][column] in vocabulary
        assert len(document["lowlevel"]["mfcc"]["mean"]) == 13
        rhythm, length = document["rhythm"], document["metadata"]["audio_properties"]["length"]
        assert isinstance(rhythm["beats_count"], int)
        expected_beats = rhythm["bpm"] * length / 60
        assert abs(rhythm["beats_count"] - expected_beats) <= 0.1 * expected_beats + 2
        tags = document["metadata"]["tags"]
        assert tags["musicbrainz_recordingid"] == [tags["musicbrainz_recordingid"][0]]


def test_the_pipeline_reads_every_document(small_world: DemoWorld) -> None:
    for mbid, lowlevel in small_world.lowlevel_documents.items():
        if mbid in small_world.highlevel_documents:
            row = track_row_from_documents(mbid, lowlevel, small_world.highlevel_documents[mbid])
            assert row["mbid"] == mbid and row["artist"]


# --- calibration against the real tracks ---


def test_labelled_features_follow_the_reference(full_world: DemoWorld) -> None:
    labelled = full_world.truth.loc[full_world.truth["is_labelled"], "recording_id"]
    features = _feature_table(full_world, labelled)
    assert len(features) > 1400
    for column in NUMERIC_AUDIO_COLUMNS:
        figures = REFERENCE_FIGURES[column]
        values = features[column]
        assert abs(values.mean() - figures.mean) <= 0.25 * figures.std, column
        assert 0.6 <= values.std() / figures.std <= 1.5, column
    # Columns mapped through the reference percentiles stay inside the real range (beats_count
    # is not one: it follows from tempo and duration).
    for column in [*LOWLEVEL_SCALARS.keys() - {"beats_count"}, *MFCC_COLUMNS, DANCEABLE_COLUMN, *CONFIDENCE_MODELS]:
        figures = REFERENCE_FIGURES[column]
        assert figures.minimum - 1e-9 <= features[column].min() and features[column].max() <= figures.maximum + 1e-9


def test_release_years_follow_the_reference(full_world: DemoWorld) -> None:
    years = full_world.truth.loc[full_world.truth["is_labelled"], "release_year"]
    assert 1955 <= years.min() and years.max() <= 2022
    assert abs(years.mean() - REFERENCE_FIGURES["release_year"].mean) < 4
    assert 10 < years.std() < 20


# --- the listener's labels ---


def test_labels_are_balanced_and_nearly_pure_per_artist(full_world: DemoWorld) -> None:
    truth = full_world.truth
    labelled = truth[truth["is_labelled"]]
    assert 0.4 <= full_world.liked_tracks["liked"].mean() <= 0.6
    expected = labelled.set_index("recording_id")["liked"]
    listed = full_world.liked_tracks.set_index("mbid")["liked"]
    assert listed.sort_index().equals(expected.sort_index())
    per_artist = labelled.groupby("artist_id")["liked"].agg(["size", "mean"])
    several = per_artist[per_artist["size"] >= 3]
    majority = np.maximum(several["mean"], 1 - several["mean"])
    assert (majority >= 0.8).mean() >= 0.7


def test_taste_is_learnable_across_artists(full_world: DemoWorld) -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labelled = full_world.truth[full_world.truth["is_labelled"]].set_index("recording_id")
    features = _feature_table(full_world, labelled.index.to_series())
    liked = labelled.loc[features.index, "liked"].to_numpy()
    artists = labelled.loc[features.index, "artist_id"].to_numpy()
    unique_artists = np.unique(artists)
    training_artists = set(np.random.default_rng(0).permutation(unique_artists)[: int(0.7 * len(unique_artists))])
    training = np.array([artist in training_artists for artist in artists])
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    model.fit(features.to_numpy()[training], liked[training])
    auc = roc_auc_score(liked[~training], model.predict_proba(features.to_numpy()[~training])[:, 1])
    assert 0.65 < auc < 0.97


# --- candidate albums ---


def test_candidate_albums(full_world: DemoWorld) -> None:
    labelled = set(full_world.liked_tracks["mbid"])
    candidate_ids = full_world.candidate_release_ids
    assert len(candidate_ids) >= 2000
    sizes = []
    for release in full_world.releases:
        recordings = {track["recording"]["id"] for medium in release["media"] for track in medium["tracks"]}
        if release["id"] in candidate_ids:
            assert not recordings & labelled
            sizes.append(len(recordings))
        else:
            # A release the listener's tracks come from holds only labelled recordings.
            assert recordings <= labelled
    assert min(sizes) < 6 <= np.median(sizes) and max(sizes) <= 16
    truth = full_world.truth
    candidate_tracks = truth[~truth["is_labelled"]]
    assert (candidate_tracks["has_lowlevel"] & ~candidate_tracks["has_highlevel"]).any()
    assert (~candidate_tracks["has_lowlevel"] & candidate_tracks["has_highlevel"]).any()
    assert (~candidate_tracks["has_lowlevel"] & ~candidate_tracks["has_highlevel"]).any()
    incomplete = 1 - (candidate_tracks["has_lowlevel"] & candidate_tracks["has_highlevel"]).mean()
    assert 0.05 < incomplete < 0.2
    # A few of the listener's tracks are unknown to AcousticBrainz, as in real lists.
    unanalysed = ~full_world.liked_tracks["mbid"].isin(full_world.lowlevel_documents.keys())
    assert 0 < unanalysed.mean() < 0.05
    # Recommending from known artists is possible: most labelled artists have candidate albums.
    candidate_artists = set(candidate_tracks["artist_id"])
    labelled_artists = set(truth.loc[truth["is_labelled"], "artist_id"])
    assert len(labelled_artists & candidate_artists) >= 0.8 * len(labelled_artists)
    assert len(candidate_artists - labelled_artists) >= 100


# --- the command line: idempotent, and a half-written world is rewritten ---


def _snapshot(root: Path) -> dict[str, int]:
    return {str(path.relative_to(root)): path.stat().st_mtime_ns for path in root.rglob("*") if path.is_file()}


def test_command_line_writes_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    assert demo_main(["--root", str(root), "--small"]) == 0
    first = capsys.readouterr().out
    assert "40 artists" in first and "candidate albums" in first
    before = _snapshot(root)
    assert demo_main(["--root", str(root), "--small"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _snapshot(root) == before


def test_half_written_world_is_rewritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "demo"
    demo_main(["--root", str(root), "--small"])
    paths = demo_world_paths(root)
    complete = set(_snapshot(root))
    # Interrupted before the marker: an archive missing, a stray one from another world.
    paths.marker_path.unlink()
    next(paths.acousticbrainz_dumps.glob("acousticbrainz-highlevel-json-*.tar.zst")).unlink()
    (paths.acousticbrainz_dumps / "acousticbrainz-lowlevel-json-other-9.tar.zst").write_bytes(b"")
    assert not is_complete_demo_world(root, DemoWorldSpec.small())
    capsys.readouterr()

    demo_main(["--root", str(root), "--small"])
    assert "rewriting" in capsys.readouterr().out
    assert set(_snapshot(root)) == complete
    assert is_complete_demo_world(root, DemoWorldSpec.small())

    # A complete world of another spec is replaced too.
    demo_main(["--root", str(root), "--small", "--seed", "7"])
    assert is_complete_demo_world(root, DemoWorldSpec.small(seed=7))
    assert not is_complete_demo_world(root, DemoWorldSpec.small())
    # ... and nothing of the old world is left behind.
    written = set()
    for archive in paths.acousticbrainz_dumps.glob("acousticbrainz-lowlevel-json-*.tar.zst"):
        written |= {
            member.name.rsplit("/", 1)[1].removesuffix("-0.json")
            for member in ArchiveStream(archive)
            if member.name.endswith("-0.json")
        }
    assert written == set(build_demo_world(DemoWorldSpec.small(seed=7)).lowlevel_documents)
