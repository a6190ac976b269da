"""The MusicBrainz release dump as tables, candidate selection and the album ranking over them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import orjson
import pandas as pd
import pytest

from albumrec_pipeline.core.albums import AlbumThresholds, RankingOptions, album_ranking_sql, summarize_albums
from albumrec_pipeline.core.archives import ArchiveStream, DumpFormatError
from albumrec_pipeline.core.catalog import CandidateOptions, candidate_tracklists_sql, parquet_source
from albumrec_pipeline.core.releases import (
    RELEASE_COLUMNS,
    TRACK_COLUMNS,
    ReleaseIngestCounts,
    ingest_release_archive,
    release_track_rows,
)
from albumrec_pipeline.demo.dump_writer import write_release_dump, write_tar_xz
from albumrec_pipeline_tests.catalog_files import ingest_release_file, sources
from albumrec_pipeline_tests.factories import recording_id, release_document


def _release(release_id: str, recordings: list[int], **fields) -> dict:
    group = fields.pop("group", f"rg-{release_id}")
    secondary = fields.pop("secondary", [])
    artist_id = fields.pop("artist_id", f"artist-{fields.get('artist', 'Band')}")
    status = fields.pop("status", "Official")
    document = release_document(release_id, [recording_id(n) for n in recordings], **fields)
    document["release-group"].update({"id": group, "secondary-types": secondary})
    document["status"] = status
    for credit in [document["artist-credit"], *(t["recording"].setdefault("artist-credit", document["artist-credit"]) for t in document["media"][0]["tracks"])]:
        credit[0]["artist"]["id"] = artist_id
    return document


def _tables(tmp_path: Path, releases: list[dict]) -> dict[str, str]:
    archive = write_release_dump(tmp_path / "mb" / "release.tar.xz", releases)
    return sources(ingest_release_file(archive, tmp_path / "tables"))


def test_release_dump_to_tables(tmp_path: Path) -> None:
    releases = [_release("r1", [1, 2, 3], artist="Band", date="1999-02"), _release("r2", [4], secondary=["Live", "Compilation"])]
    text = b"".join(orjson.dumps(release) + b"\n" for release in releases) + b"{broken\n[1]\n"
    archive = write_tar_xz(tmp_path / "release.tar.xz", [("mbdump/release", text)])
    batches: dict[str, list] = {"releases": [], "tracks": []}
    counts = ingest_release_archive(ArchiveStream(archive), lambda name, batch: batches[name].append(batch), ReleaseIngestCounts())
    assert (counts.releases, counts.tracks, counts.unusable) == (2, 4, 2)
    release_table = pd.concat(batch.to_pandas() for batch in batches["releases"])
    track_table = pd.concat(batch.to_pandas() for batch in batches["tracks"])
    assert list(release_table.columns) == RELEASE_COLUMNS
    first = release_table.set_index("release_id").loc["r1"]
    assert (first["release_group_id"], first["album_title"], first["album_artist"]) == ("rg-r1", "Record", "Band")
    assert (first["release_year"], first["status"], first["primary_type"]) == (1999, "Official", "Album")
    assert release_table.set_index("release_id").loc["r2", "secondary_types"] == "Live;Compilation"
    assert track_table["recording_id"].tolist() == [recording_id(n) for n in (1, 2, 3, 4)]
    assert track_table["track_position"].tolist() == [1, 2, 3, 1]
    # The two tables joined are the tracklist rows the live catalog produces directly.
    joined = track_table.merge(release_table, on="release_id")[TRACK_COLUMNS]
    expected = pd.DataFrame([row for release in releases for row in release_track_rows(release)])[TRACK_COLUMNS]
    pd.testing.assert_frame_equal(joined.astype(str), expected.astype(str))


def test_an_archive_without_the_release_file_is_refused(tmp_path: Path) -> None:
    archive = write_tar_xz(tmp_path / "release-group.tar.xz", [("mbdump/release_group", b"{}\n")])
    with pytest.raises(DumpFormatError, match="not the MusicBrainz JSON dump's release.tar.xz"):
        ingest_release_archive(ArchiveStream(archive), lambda *_: None, ReleaseIngestCounts())


def _candidates(tables: dict[str, str], labelled: list[int], options: CandidateOptions = CandidateOptions()) -> pd.DataFrame:
    connection = duckdb.connect()
    try:
        connection.register("labelled", pd.DataFrame({"recording_id": [recording_id(n) for n in labelled]}))
        query = candidate_tracklists_sql(tables["releases"], tables["tracks"], "SELECT recording_id FROM labelled", options)
        return connection.execute(query).df()
    finally:
        connection.close()


def test_candidate_options(tmp_path: Path) -> None:
    releases = [
        _release("heard", [1, 2], artist="Known", group="g-heard", date="1990"),
        _release("heard-reissue", [1, 2, 3], artist="Known", group="g-heard", date="2005"),
        _release("known-other", [10, 11], artist="Known", date="1995"),
        _release("new", [20, 21], artist="Stranger", date="2001"),
        _release("old", [30, 31], artist="Stranger", date="1961"),
        _release("best-of", [40], artist="Stranger", secondary=["Compilation"], date="2003"),
        _release("single", [50], artist="Stranger", primary_type="Single", date="2003"),
    ]
    tables = _tables(tmp_path, releases)
    # The listener rated a track of "heard": its whole release group is out, reissue included.
    assert set(_candidates(tables, [1])["release_id"]) == {"known-other", "new", "old"}
    assert set(_candidates(tables, [1], CandidateOptions(skip_labelled_artists=True))["release_id"]) == {"new", "old"}
    assert set(_candidates(tables, [1], CandidateOptions(min_year=1970, max_year=2001))["release_id"]) == {"known-other", "new"}
    every_type = CandidateOptions(primary_types=("Album", "Single"), excluded_secondary_types=())
    assert set(_candidates(tables, [1], every_type)["release_id"]) == {"known-other", "new", "old", "best-of", "single"}
    rows = _candidates(tables, [1])
    assert list(rows.columns) == TRACK_COLUMNS
    assert rows.loc[rows["release_id"] == "new", "track_position"].tolist() == [1, 2]


def test_a_release_in_two_partitions_is_one_tracklist(tmp_path: Path) -> None:
    """The live search can find a release a dump also holds: each partition stores it, the
    candidates list it once."""
    releases = [_release("both", [1, 2, 3], artist="Band"), _release("dump-only", [4, 5], artist="Other")]
    dump = ingest_release_file(write_release_dump(tmp_path / "a" / "release.tar.xz", releases), tmp_path / "dump")
    live = ingest_release_file(write_release_dump(tmp_path / "b" / "release.tar.xz", releases[:1]), tmp_path / "live")
    tables = sources({name: dump[name] + live[name] for name in dump})
    rows = _candidates(tables, [99])
    assert rows.groupby("release_id").size().to_dict() == {"both": 3, "dump-only": 2}
    assert rows.loc[rows["release_id"] == "both", "track_position"].tolist() == [1, 2, 3]


def _tracks(release: str, group: str | None, recordings: list[str], **fields) -> list[dict]:
    return [{"release_id": release, "release_group_id": group, "recording_id": r, "album_title": release, "album_artist": fields.get("artist", "x"), "release_year": fields.get("year", 2000), "release_date": fields.get("date", "2000"), "status": fields.get("status", "Official")} for r in recordings]


def test_one_entry_per_release_group_judged_on_its_best_edition() -> None:
    recordings = [f"r{n}" for n in range(8)]
    tracks = pd.DataFrame(
        _tracks("original", "g", recordings[:6], date="1980", year=1980)
        + _tracks("deluxe", "g", recordings[:8], date="2010", year=2010)
        + _tracks("bootleg", "g", recordings[:6], date="1979", year=1979, status="Bootleg")
        + _tracks("loner", None, [f"s{n}" for n in range(5)], artist="y")
    )
    scores = pd.DataFrame({"recording_id": recordings[:6] + ["s0"], "like_probability": [0.9] * 6 + [0.2]})
    albums = summarize_albums(tracks, scores, AlbumThresholds()).set_index("release_group_id", drop=False)
    assert len(albums) == 2
    # Official before bootleg; then most scored tracks (a tie here), then the earliest.
    assert albums.loc["g", "release_id"] == "original" and albums.loc["g", "releases_in_group"] == 3
    assert albums.loc["g", "release_year"] == 1979  # the group's first release, whichever edition is shown
    assert albums.loc["g", "recommended"] and albums.loc["g", "rank"] == 1
    # A release without a group is an album of its own.
    loner = albums[albums["release_id"] == "loner"].iloc[0]
    assert loner["tracks_with_features"] == 1 and loner["feature_coverage"] == pytest.approx(0.2) and not loner["recommended"]


def test_per_artist_cap_and_thresholds() -> None:
    tracks, scores = [], []
    for artist, liking in (("prolific", 0.9), ("other", 0.8)):
        for album in range(4):
            ids = [f"{artist}-{album}-{n}" for n in range(6)]
            tracks += _tracks(f"{artist}-{album}", f"g-{artist}-{album}", ids, artist=artist)
            scores += [{"recording_id": i, "like_probability": liking - 0.01 * album} for i in ids]
    tracks, scores = pd.DataFrame(tracks), pd.DataFrame(scores)
    uncapped = summarize_albums(tracks, scores, AlbumThresholds())
    assert uncapped["album_artist"].head(4).tolist() == ["prolific"] * 4
    capped = summarize_albums(tracks, scores, AlbumThresholds(), RankingOptions(max_albums_per_artist=2))
    assert capped["album_artist"].tolist() == ["prolific", "prolific", "other", "other"]
    assert capped["rank"].tolist() == [1, 2, 3, 4]
    strict = summarize_albums(tracks, scores, AlbumThresholds(liked_song_threshold=0.85))
    assert set(strict.loc[strict["recommended"], "album_artist"]) == {"prolific"}
    too_long = summarize_albums(tracks, scores, AlbumThresholds(album_track_length_threshold=7))
    assert not too_long["recommended"].any()


def test_the_ranking_reads_parquet_as_it_reads_dataframes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tracks = pd.DataFrame(
        [row for album in range(40) for row in _tracks(f"a{album}", f"g{album % 30}", [f"t{album}-{n}" for n in range(int(rng.integers(3, 12)))], artist=f"artist{album % 7}", year=1970 + album)]
    )
    scored = tracks["recording_id"].sample(frac=0.8, random_state=1)
    scores = pd.DataFrame({"recording_id": scored, "like_probability": rng.random(len(scored))})
    tracks.to_parquet(tmp_path / "tracks.parquet")
    scores.to_parquet(tmp_path / "scores.parquet")
    options = RankingOptions(max_albums_per_artist=3)
    connection = duckdb.connect()
    from_files = connection.execute(
        album_ranking_sql(parquet_source([str(tmp_path / "tracks.parquet")]), parquet_source([str(tmp_path / "scores.parquet")]), AlbumThresholds(), options)
    ).df()
    from_frames = summarize_albums(tracks, scores, AlbumThresholds(), options)
    assert from_files["release_id"].tolist() == from_frames["release_id"].tolist()
    assert np.allclose(from_files["predicted_liked_share"], from_frames["predicted_liked_share"])


def test_data_tracks_are_catalogued_but_not_candidates(tmp_path: Path) -> None:
    enhanced = _release("enhanced", [60, 61], artist="Stranger", date="2001")
    # Recording 62 is a video on the disc, after the audio tracks, as the serializer writes it.
    video = dict(enhanced["media"][0]["tracks"][-1], id="track-62", position=3, number="3", title="Video")
    video["recording"] = dict(video["recording"], id=recording_id(62), title="Video")
    enhanced["media"][0]["data-tracks"] = [video]
    tables = _tables(tmp_path, [enhanced])
    catalogued = duckdb.connect().execute(f"SELECT recording_id, track_kind FROM {tables['tracks']}").df()
    assert dict(zip(catalogued["recording_id"], catalogued["track_kind"], strict=True))[recording_id(62)] == "data"
    candidates = _candidates(tables, [999])
    assert candidates["recording_id"].tolist() == [recording_id(60), recording_id(61)]


def test_tracks_ingested_before_track_kinds_were_recorded_are_all_candidates(tmp_path: Path) -> None:
    tables = _tables(tmp_path, [_release("old-ingest", [70, 71], artist="Stranger", date="2001")])
    without_kind = tmp_path / "old_tracks.parquet"
    duckdb.connect().execute(
        f"COPY (SELECT * EXCLUDE (track_kind) FROM {tables['tracks']}) TO '{without_kind.as_posix()}' (FORMAT parquet)"
    )
    old = dict(tables, tracks=parquet_source([without_kind.as_posix()]))
    assert _candidates(old, [999])["recording_id"].tolist() == [recording_id(70), recording_id(71)]
