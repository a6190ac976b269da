import pandas as pd
import pytest

from albumrec_pipeline.core.liked_tracks import LikedTracksError, read_liked_tracks, validate_liked_tracks
from albumrec_pipeline_tests.factories import recording_id

A, B, C = recording_id(1), recording_id(2), recording_id(3)


def frame(rows):
    return pd.DataFrame(rows, columns=["mbid", "liked"], dtype="str")


def test_valid_list_is_normalised():
    table = validate_liked_tracks(frame([[A.upper(), "1"], [B, " 0 "], [A, "1"]]))
    assert table["mbid"].tolist() == [A, B]
    assert table["liked"].tolist() == [1, 0]


def test_bad_ids_are_reported_with_spreadsheet_row_numbers():
    with pytest.raises(LikedTracksError, match=r"rows 3, 4 do not hold"):
        validate_liked_tracks(frame([[A, "1"], ["not-an-id", "0"], ["", "1"], [B, "0"]]))


@pytest.mark.parametrize("label", ["yes", "2", "", "1.0"])
def test_labels_other_than_0_or_1_are_refused(label):
    with pytest.raises(LikedTracksError, match="row.* 3 have a 'liked' value"):
        validate_liked_tracks(frame([[A, "1"], [B, label], [C, "0"]]))


def test_conflicting_labels_are_refused():
    with pytest.raises(LikedTracksError, match="both liked and disliked"):
        validate_liked_tracks(frame([[A, "1"], [A, "0"], [B, "0"]]))


def test_one_class_is_refused():
    with pytest.raises(LikedTracksError, match="needs both"):
        validate_liked_tracks(frame([[A, "1"], [B, "1"]]))


def test_missing_columns_and_empty_files(tmp_path):
    with pytest.raises(LikedTracksError, match="missing column"):
        validate_liked_tracks(pd.DataFrame({"id": [A]}))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(LikedTracksError, match="empty"):
        read_liked_tracks(empty)
    with pytest.raises(LikedTracksError, match="no such file"):
        read_liked_tracks(tmp_path / "absent.csv")


def test_byte_order_mark_and_windows_line_endings_are_read(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes(f"\ufeffMBID,Liked\r\n{A},1\r\n{B},0\r\n".encode())
    assert read_liked_tracks(path)["mbid"].tolist() == [A, B]
