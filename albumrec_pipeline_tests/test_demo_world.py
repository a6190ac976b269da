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

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    MULTICLASS_MODELS,
    NUMERIC_AUDIO_COLUMNS,
)
from albumrec_pipeline.demo import (
    DemoWorld,
    DemoWorldSpec,
    build_demo_world,
    demo_world_paths,
    is_complete_demo_world,
    write_demo_world,
)
from albumrec_pipeline.demo.__main__ import main as demo_main
from albumrec_pipeline.demo.reference_figures import REFERENCE_FIGURES

# Reference material lives beside the repository checkout and is not shipped with it.
SHARED = Path(__file__).resolve().parents[2] / "shared"
FIXTURES = SHARED / "fixtures"


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


def test_written_layout_and_formats(small_world: DemoWorld, tmp_path: Path) -> None:
    root = tmp_path / "demo"
    paths = write_demo_world(small_world, root)
    assert paths == demo_world_paths(root)
    assert paths.acousticbrainz_root == root / "acousticbrainz"
    assert paths.releases_path == root / "musicbrainz" / "release.jsonl"
    assert paths.liked_tracks_path == root / "liked_tracks.csv"

    for kind, documents in (("lowlevel", small_world.lowlevel_documents), ("highlevel", small_world.highlevel_documents)):
        files = sorted((paths.acousticbrainz_root / kind).glob("*/*/*.json"))
        assert len(files) == len(documents)
        for mbid in list(documents)[:25]:
            path = root / "acousticbrainz" / kind / mbid[0:2] / mbid[2] / f"{mbid}-0.json"
            assert json.loads(path.read_text(encoding="utf-8")) == documents[mbid]

    lines = paths.releases_path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(small_world.releases)
    for line in lines:
        release = json.loads(line)
        assert release["status"] == "Official" and release["release-group"]["primary-type"] == "Album"
        for medium in release["media"]:
            assert medium["track-count"] == len(medium["tracks"]) > 0
            for track in medium["tracks"]:
                assert isinstance(track["recording"]["id"], str)
                assert track["recording"]["first-release-date"] == release["date"]

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


@pytest.mark.skipif(not FIXTURES.is_dir(), reason=f"real fixture documents not available at {FIXTURES}")
@pytest.mark.parametrize(
    ("kind", "pattern", "directory"),
    [
        ("lowlevel", "lowlevel_*.json", "acousticbrainz"),
        ("highlevel", "highlevel_*.json", "acousticbrainz"),
        ("release", "release_lookup_*.json", "musicbrainz"),
    ],
)
def test_every_key_exists_in_the_real_documents(small_world: DemoWorld, kind: str, pattern: str, directory: str) -> None:
    real = _paths_of_files(pattern, FIXTURES / directory)
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
    documents_module = pytest.importorskip("albumrec_pipeline.core.documents")
    for mbid, lowlevel in small_world.lowlevel_documents.items():
        if mbid in small_world.highlevel_documents:
            row = documents_module.track_row_from_documents(mbid, lowlevel, small_world.highlevel_documents[mbid])
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
    # Interrupted before the marker: some documents missing, a stray one from another world.
    paths.marker_path.unlink()
    removed = next(iter((paths.acousticbrainz_root / "highlevel").glob("*/*/*.json")))
    removed.unlink()
    stray = paths.acousticbrainz_root / "lowlevel" / "ff" / "f" / "ffffffff-0000-4000-8000-000000000000-0.json"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_text("{}", encoding="utf-8")
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
    written = {path.name.removesuffix("-0.json") for path in (paths.acousticbrainz_root / "lowlevel").glob("*/*/*.json")}
    assert written == set(build_demo_world(DemoWorldSpec.small(seed=7)).lowlevel_documents)
