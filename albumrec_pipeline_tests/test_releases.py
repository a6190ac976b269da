import pytest

from albumrec_pipeline.core.releases import (
    ReleaseDocumentError,
    candidate_tracklists,
    credited_name,
    recording_metadata,
    release_track_rows,
    tracklist_table,
    year_of,
)
from albumrec_pipeline_tests.conftest import load_json
from albumrec_pipeline_tests.factories import recording_id, release_document


def test_year_of_partial_dates():
    assert year_of("1973-03-24") == 1973
    assert year_of("1973") == 1973
    assert year_of("") is None and year_of(None) is None and year_of("unknown") is None


def test_credited_name_joins_credits_with_their_phrases():
    credit = [{"name": "Simon", "joinphrase": " & "}, {"name": "Garfunkel", "joinphrase": ""}]
    assert credited_name(credit) == "Simon & Garfunkel"
    assert credited_name([]) is None


def test_release_rows_follow_media_and_tracks():
    ids = [recording_id(n) for n in range(3)]
    rows = release_track_rows(release_document("r1", ids, artist="Band", date="1999-02"))
    assert [row["recording_id"] for row in rows] == ids
    assert {row["release_year"] for row in rows} == {1999}
    assert rows[0]["album_artist"] == "Band" and rows[0]["primary_type"] == "Album"


def test_search_results_without_tracks_are_refused():
    document = release_document("r1", [recording_id(1)])
    document["media"][0].pop("tracks")
    with pytest.raises(ReleaseDocumentError, match="r1"):
        release_track_rows(document)


def test_real_release_lookups_parse(shared_dir):
    documents = [load_json(path) for path in sorted((shared_dir / "fixtures" / "musicbrainz").glob("release_lookup_*.json"))]
    table = tracklist_table(documents)
    dark_side = table[table["release_id"] == "b84ee12a-09ef-421b-82de-0441a926375b"]
    assert len(dark_side) == 10
    assert dark_side["album_artist"].iloc[0] == "Pink Floyd"
    assert dark_side["release_year"].iloc[0] == 1973
    assert dark_side["recording_title"].iloc[0] == "Speak to Me"
    # the multi-disc lookup yields every medium's tracks
    assert table.groupby("release_id").size().min() >= 7


def test_recording_metadata_uses_the_earliest_release():
    rid = recording_id(7)
    table = tracklist_table(
        [
            release_document("late", [rid], date="2010-01-01", title="Best Of", primary_type="Compilation"),
            release_document("early", [rid], date="1980-06-01", title="Debut"),
        ]
    )
    metadata = recording_metadata(table, [rid])
    assert metadata.loc[0, "release_title"] == "Debut" and metadata.loc[0, "release_year"] == 1980


def test_candidates_exclude_releases_with_labelled_recordings_and_other_types():
    labelled, fresh, single = recording_id(1), recording_id(2), recording_id(3)
    table = tracklist_table(
        [
            release_document("has-labelled", [labelled, recording_id(4)]),
            release_document("fresh", [fresh, recording_id(5)]),
            release_document("single", [single], primary_type="Single"),
        ]
    )
    candidates = candidate_tracklists(table, [labelled])
    assert set(candidates["release_id"]) == {"fresh"}
    assert set(candidate_tracklists(table, [labelled], ("Album", "Single"))["release_id"]) == {"fresh", "single"}
