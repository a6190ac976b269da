"""Taking the albums out: the best albums as a JSPF playlist ListenBrainz imports, the ranking as CSV.

The shape is held to what listenbrainz-server checks when it creates a playlist from JSPF
(`validate_create_playlist_required_items` and `validate_playlist` in its playlist API): a
title, the `public` flag in the MusicBrainz playlist extension, and a recording URL first in
every track's `identifier` list.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from upath import UPath

from albumrec_pipeline import cli
from albumrec_pipeline.cli import main
from albumrec_pipeline.core.playlists import (
    PLAYLIST_EXTENSION,
    RECORDING_URL,
    RELEASE_URL,
    TRACK_EXTENSION,
    AlbumPlaylist,
    PlaylistError,
    jspf_document,
    jspf_problems,
    playlist_tracks,
    ranking_csv,
    ranking_rows,
    top_albums,
    validate_jspf,
)
from albumrec_pipeline.storage.artifacts import ArtifactIntegrityError, load_artifact
from albumrec_pipeline_tests.pipeline_runs import build_small_warehouse

# What album_search needs already in the warehouse: the model it scores with and a first ranking.
RANKING_ASSETS = (
    "liked_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler", "preference_model",
    "background_tracks", "recording_features", "candidate_albums", "candidate_track_features", "track_scores", "album_recommendations",
)
SEARCH_DAY = "2026-11-25"
CREATED = dt.datetime(2026, 11, 25, 6, 0, 3, tzinfo=dt.UTC)


def mbid(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, label))


def ranking_frame() -> pd.DataFrame:
    """Four albums, stored out of rank order; the one ranked third is not recommended."""
    rows = [
        (3, False, "c", "Third Not Recommended", "Carol", 2001),
        (1, True, "a", "First", "Alice", 1999),
        (4, True, "d", "Fourth", "Dan", None),
        (2, True, "b", "Second Double", "Bob", 2010),
    ]
    return pd.DataFrame(
        {
            "rank": [row[0] for row in rows],
            "recommended": [row[1] for row in rows],
            "release_id": [mbid(f"release-{row[2]}") for row in rows],
            "release_group_id": [mbid(f"group-{row[2]}") for row in rows],
            "album_title": [row[3] for row in rows],
            "album_artist": [row[4] for row in rows],
            "release_year": [row[5] for row in rows],
            "mean_score": [0.4, 0.9, 0.7, 0.8],
        }
    )


def tracklists_frame() -> pd.DataFrame:
    """Tracks of every album, shuffled; album b has two media and a reissue with other tracks."""
    rows = []
    for album, media in {"a": [3], "b": [2, 2], "c": [2], "d": [1]}.items():
        for medium, count in enumerate(media, start=1):
            for position in range(1, count + 1):
                rows.append((mbid(f"release-{album}"), medium, position, mbid(f"rec-{album}-{medium}-{position}")))
    rows.append((mbid("release-b-reissue"), 1, 1, mbid("rec-b-bonus")))
    frame = pd.DataFrame(rows, columns=["release_id", "medium_position", "track_position", "recording_id"])
    frame["recording_title"] = [f"Song {index}" for index in range(len(frame))]
    frame["recording_artist"] = [None if index == 0 else f"Artist {index}" for index in range(len(frame))]
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)


def recording_ids(document: dict) -> list[str]:
    return [track["identifier"][0].removeprefix(RECORDING_URL) for track in document["playlist"]["track"]]


def test_playlist_holds_the_top_albums_tracks_in_album_order():
    tracks = playlist_tracks(top_albums(ranking_frame(), 2), tracklists_frame())
    expected = [mbid(f"rec-a-1-{n}") for n in (1, 2, 3)] + [mbid(f"rec-b-{m}-{n}") for m in (1, 2) for n in (1, 2)]
    assert tracks["recording_id"].tolist() == expected
    assert tracks["album_rank"].tolist() == [1, 1, 1, 2, 2, 2, 2]
    # Counted through the whole album: the second disc goes on from the first.
    assert tracks["track_number"].tolist() == [1, 2, 3, 1, 2, 3, 4]
    assert tracks["position"].tolist() == list(range(1, 8))
    # The ranking's third album is not recommended: the next recommended one takes its place.
    three = playlist_tracks(top_albums(ranking_frame(), 3), tracklists_frame())
    assert three["album_title"].drop_duplicates().tolist() == ["First", "Second Double", "Fourth"]
    assert mbid("rec-b-bonus") not in set(three["recording_id"])


def test_an_album_the_tracklists_lack_is_refused_by_name():
    tracklists = tracklists_frame()
    tracklists = tracklists[tracklists["release_id"] != mbid("release-b")]
    with pytest.raises(PlaylistError, match="Second Double.*run album_search"):
        playlist_tracks(top_albums(ranking_frame(), 2), tracklists)


def test_jspf_is_what_listenbrainz_imports():
    tracks = playlist_tracks(top_albums(ranking_frame(), 3), tracklists_frame())
    document = validate_jspf(jspf_document(tracks, CREATED))
    playlist = document["playlist"]
    assert playlist["title"] == "albumrec: the best albums for you, 2026-11-25"
    assert playlist["annotation"].startswith("The 3 albums albumrec ranks best")
    assert playlist["creator"] == "albumrec"
    assert dt.datetime.fromisoformat(playlist["date"]) == CREATED
    assert "1. First by Alice (1999)" in playlist["annotation"] and "Fourth by Dan;" not in playlist["annotation"]
    assert playlist["extension"] == {PLAYLIST_EXTENSION: {"public": False}}
    assert recording_ids(document) == tracks["recording_id"].tolist()
    for track, row in zip(playlist["track"], tracks.itertuples(), strict=True):
        assert isinstance(track["identifier"], list) and len(track["identifier"]) == 1
        assert track["album"] == row.album_title and track["trackNum"] == row.track_number
        assert track["extension"] == {TRACK_EXTENSION: {"release_identifier": f"{RELEASE_URL}{row.release_id}"}}
    # A track without a credited artist of its own is credited to the album's artist; no key is ever null.
    uncredited = playlist["track"][tracks.index[tracks["recording_artist"].isna()][0]]
    assert uncredited["creator"] == "Alice"
    assert all(value is not None for track in playlist["track"] for value in track.values())
    assert json.loads(json.dumps(document, allow_nan=False)) == document


def test_no_recommended_album_makes_an_empty_valid_playlist():
    nothing = ranking_frame().assign(recommended=False)
    tracks = playlist_tracks(top_albums(nothing, 10), tracklists_frame())
    document = validate_jspf(jspf_document(tracks, CREATED))
    assert tracks.empty and document["playlist"]["track"] == []
    assert document["playlist"]["annotation"] == "albumrec recommends no album for your taste yet."


def _broken(change) -> dict:
    tracks = playlist_tracks(top_albums(ranking_frame(), 1), tracklists_frame())
    document = copy.deepcopy(jspf_document(tracks, CREATED))
    change(document["playlist"])
    return document


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda p: p.pop("title"), "playlist.title"),
        (lambda p: p.update(title="  "), "playlist.title"),
        (lambda p: p.pop("extension"), "public"),
        (lambda p: p["extension"][PLAYLIST_EXTENSION].update(public="false"), "public"),
        (lambda p: p["track"][0].update(identifier=p["track"][0]["identifier"][0]), "identifier is not a non-empty list"),
        (lambda p: p["track"][0].update(identifier=[]), "identifier is not a non-empty list"),
        (lambda p: p["track"][1].update(identifier=[RELEASE_URL + mbid("x")]), r"track\[1\]\.identifier\[0\]"),
        (lambda p: p["track"][1].update(identifier=[RECORDING_URL + "not-a-uuid"]), "recording URL"),
        (lambda p: p["track"][0].update(trackNum=0), "trackNum"),
        (lambda p: p["track"][0].update(trackNum=True), "trackNum"),
        (lambda p: p["track"][0].update(title=None), "title is not a string"),
        (lambda p: p.update(date="yesterday"), "ISO 8601"),
        (lambda p: p.update(track={}), "playlist.track is not a list"),
    ],
)
def test_validation_refuses_what_listenbrainz_would(change, complaint):
    document = _broken(change)
    problems = jspf_problems(document)
    assert any(re.search(complaint, problem) for problem in problems), problems
    with pytest.raises(ValueError, match="not an importable JSPF playlist"):
        validate_jspf(document)
    assert jspf_problems({"tracks": []}) == ["the document is not an object with a 'playlist' object"]


def test_csv_round_trips_the_ranking_rows():
    ranking = ranking_frame().astype({"release_year": "Int64"})
    for include_all, ranks in ((False, [1, 2, 4]), (True, [1, 2, 3, 4])):
        rows = ranking_rows(ranking, include_all)
        assert rows["rank"].tolist() == ranks
        back = pd.read_csv(io.BytesIO(ranking_csv(rows)), dtype={"release_year": "Int64"})
        pd.testing.assert_frame_equal(back, rows)


# --- on a small demo warehouse, through the album_search job and the CLI ---


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A small demo world's model and ranking (trained briefly), then one day's album_search run."""
    root = tmp_path_factory.mktemp("playlist")
    _, defs = build_small_warehouse(root, RANKING_ASSETS)
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("album_search").execute_in_process(partition_key=SEARCH_DAY, instance=instance)
    assert result.success
    return root / "warehouse", result


def expected_recordings(warehouse, albums: int) -> list[str]:
    """The top albums' tracks in album order, read from the warehouse without albumrec's playlist code."""
    ranking = pd.read_parquet(warehouse / "album_recommendations.parquet")
    top = ranking[ranking["recommended"]].sort_values("rank").head(albums)
    tracks = pd.read_parquet(warehouse / "candidate_albums.parquet")
    return [
        recording
        for release in top["release_id"]
        for recording in tracks[tracks["release_id"] == release]
        .sort_values(["medium_position", "track_position"])["recording_id"]
    ]


def test_album_search_materializes_the_playlist(searched):
    warehouse, result = searched
    [materialization] = [
        event.materialization
        for event in result.get_asset_materialization_events()
        if event.asset_key == dg.AssetKey("album_playlist")
    ]
    metadata = materialization.metadata
    expected = expected_recordings(warehouse, 10)
    playlist = load_artifact(AlbumPlaylist, UPath(warehouse / "album_playlist.parquet"))
    assert 0 < metadata["albums"].value <= 10 and metadata["albums"].value == playlist.tracks["album_rank"].nunique()
    assert metadata["tracks"].value == len(expected)
    assert "album_title" in metadata["albums_in_playlist"].value and metadata["native_files"].value == "playlist.jspf"
    assert validate_jspf(playlist.document) == json.loads((warehouse / "album_playlist" / "playlist.jspf").read_bytes())
    assert recording_ids(playlist.document) == expected == playlist.tracks["recording_id"].tolist()


def test_the_stored_jspf_is_checked_against_its_digest(searched, tmp_path):
    warehouse, _ = searched
    copy_dir = tmp_path / "warehouse"
    (copy_dir / "album_playlist").mkdir(parents=True)
    (copy_dir / "album_playlist.parquet").write_bytes((warehouse / "album_playlist.parquet").read_bytes())
    (copy_dir / "album_playlist" / "playlist.jspf").write_bytes(b'{"playlist": {"title": "edited by hand"}}')
    with pytest.raises(ArtifactIntegrityError, match="Materialize album_playlist again"):
        load_artifact(AlbumPlaylist, UPath(copy_dir / "album_playlist.parquet"))


def run_cli(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_the_playlist_of_the_top_albums(searched, tmp_path, capsys):
    warehouse, _ = searched
    output = tmp_path / "mine.jspf"
    code, out, err = run_cli(
        capsys, "export", "--format", "jspf", "--count", "3", "--warehouse", str(warehouse), "--output", str(output)
    )
    assert code == 0, err
    document = validate_jspf(json.loads(output.read_bytes()))
    assert recording_ids(document) == expected_recordings(warehouse, 3)
    tracks = len(document["playlist"]["track"])
    assert out.startswith(f"wrote a JSPF playlist of {tracks} tracks, the top 3 recommended albums to {output}")
    # Piped: the playlist alone on stdout, the note on stderr.
    code, out, err = run_cli(capsys, "export", "--count", "3", "--warehouse", str(warehouse), "--output", "-")
    assert code == 0 and recording_ids(json.loads(out)) == recording_ids(document)
    assert err.startswith("wrote a JSPF playlist")


def test_cli_writes_under_the_data_folder_by_default(searched, tmp_path, capsys, monkeypatch):
    warehouse, _ = searched
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path / "data")
    code, out, _ = run_cli(capsys, "export", "--warehouse", str(warehouse))
    written = tmp_path / "data" / "exports" / "top-albums.jspf"
    assert code == 0 and str(written) in out and "Upload JSPF file" in out
    assert recording_ids(json.loads(written.read_bytes())) == expected_recordings(warehouse, 10)


def test_cli_csv_round_trips_the_ranking(searched, tmp_path, capsys):
    warehouse, _ = searched
    ranking = pd.read_parquet(warehouse / "album_recommendations.parquet")
    for flags, expected in (((), ranking[ranking["recommended"]]), (("--all",), ranking)):
        output = tmp_path / "ranking.csv"
        code, out, err = run_cli(
            capsys, "export", "--format", "csv", *flags, "--warehouse", str(warehouse), "--output", str(output)
        )
        assert code == 0, err
        back = pd.read_csv(output)
        expected = expected.sort_values("rank").reset_index(drop=True)
        assert f"wrote {len(expected)} " in out and list(back.columns) == list(expected.columns)
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_cli_without_a_ranking_says_so_in_one_line(tmp_path, capsys):
    output = tmp_path / "out.jspf"
    for export_format in ("jspf", "csv"):
        code, out, err = run_cli(
            capsys, "export", "--format", export_format, "--warehouse", str(tmp_path / "empty"), "--output", str(output)
        )
        assert code == 1 and out == "" and not output.exists()
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "album_recommendations.parquet does not exist: materialize album_recommendations first" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--format", "jspf", "--all", "--warehouse", str(tmp_path)])
    assert exit_info.value.code == 2 and "--all goes with --format csv" in capsys.readouterr().err


def test_a_reader_that_stops_early_is_not_a_crash(searched):
    """`albumrec export --format csv --all --output - | head`: head closes the pipe, albumrec exits 0."""
    warehouse, _ = searched
    command = [str(Path(sys.executable).with_name("albumrec")), "export", "--format", "csv", "--all",
               "--warehouse", str(warehouse), "--output", "-"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before albumrec writes a byte
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 0 and b"Traceback" not in errors, errors.decode()
