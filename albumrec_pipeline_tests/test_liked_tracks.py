import os
import re

import numpy as np
import pandas as pd
import pytest

from albumrec_pipeline.core.liked_tracks import LikedTracksError, read_liked_tracks, validate_liked_tracks
from albumrec_pipeline_tests.factories import recording_id

A, B, C = recording_id(1), recording_id(2), recording_id(3)


def frame(rows):
    return pd.DataFrame(rows, columns=["mbid", "liked"], dtype="str")


def write(tmp_path, text, name="list.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_valid_list_is_normalised():
    table = validate_liked_tracks(frame([[A.upper(), "1"], [B, " 0 "], [A, "1"]]))
    assert table["mbid"].tolist() == [A, B]
    assert table["liked"].tolist() == [1, 0]
    assert table["liked"].dtype == "int8"


def test_bad_ids_are_reported_with_spreadsheet_row_numbers():
    with pytest.raises(LikedTracksError, match=r"rows 3, 4 do not hold"):
        validate_liked_tracks(frame([[A, "1"], ["not-an-id", "0"], ["", "1"], [B, "0"]]))


@pytest.mark.parametrize(
    "bad_id",
    [f"{{{A}}}", A.replace("-", ""), f"https://musicbrainz.org/recording/{A}", f"urn:uuid:{A}", A[:-1] + "g", A + "0"],
)
def test_only_hyphenated_uuids_are_ids(bad_id):
    with pytest.raises(LikedTracksError, match=r"row 3 does not hold a MusicBrainz recording id"):
        validate_liked_tracks(frame([[A, "1"], [bad_id, "0"], [C, "0"]]))


def test_ids_lose_surrounding_whitespace_and_upper_case(tmp_path):
    path = write(tmp_path, f'mbid,liked\n  {A.upper()}\t,1\n"{B} ",0\n')
    assert read_liked_tracks(path)["mbid"].tolist() == [A, B]


@pytest.mark.parametrize("label", ["yes", "2", "", "true", "True", "-1", "1.5", "01", "0,5", "nan"])
def test_labels_other_than_0_or_1_are_refused(label):
    with pytest.raises(LikedTracksError, match="row 3 has a 'liked' value other than 0 or 1"):
        validate_liked_tracks(frame([[A, "1"], [B, label], [C, "0"]]))


def test_float_spellings_of_the_labels_are_read_as_0_and_1(tmp_path):
    # What pandas writes for an integer column that had one missing cell.
    path = write(tmp_path, f"mbid,liked\n{A},1.0\n{B},0.0\n{C}, 1 \n")
    assert read_liked_tracks(path)["liked"].tolist() == [1, 0, 1]


def test_labels_of_other_types_are_read_as_their_text():
    table = pd.DataFrame({"mbid": [A, B, C], "liked": [1, 0, np.nan]})
    with pytest.raises(LikedTracksError, match="row 4 has a 'liked' value"):
        validate_liked_tracks(table)
    assert validate_liked_tracks(table.iloc[:2])["liked"].tolist() == [1, 0]
    with pytest.raises(LikedTracksError, match="rows 2, 3 have a 'liked' value"):
        validate_liked_tracks(pd.DataFrame({"mbid": [A, B], "liked": [True, False]}))


def test_conflicting_labels_are_refused_with_their_rows():
    with pytest.raises(LikedTracksError, match=rf"rows 2, 4 label the same recording both liked and disliked \(e.g. {A}\)"):
        validate_liked_tracks(frame([[A, "1"], [B, "0"], [A.upper(), "0"], [C, "0"]]))


def test_repeated_recordings_with_the_same_label_are_kept_once_and_counted():
    table = validate_liked_tracks(frame([[A, "1"], [B, "0"], [A, "1.0"], [B, "0"], [C, "1"]]))
    assert table["mbid"].tolist() == [A, B, C]
    assert table["liked"].tolist() == [1, 0, 1]
    assert table.attrs["liked_list"] == {"rows": 5, "empty_rows_skipped": 0, "repeated_recordings_dropped": 2}


def test_a_list_of_dislikes_only_is_refused():
    with pytest.raises(LikedTracksError, match="every row has liked=0; albumrec learns a taste from what you like"):
        validate_liked_tracks(frame([[A, "0"], [B, "0"], [A, "0"]]))


def test_a_list_of_liked_tracks_only_is_accepted():
    # Learned against a catalog background (the liked-only mode).
    table = validate_liked_tracks(frame([[A, "1"], [B, "1"], [A, "1"]]))
    assert table.values.tolist() == [[A, 1], [B, 1]]


def test_a_list_that_only_adds_may_hold_dislikes_only(tmp_path):
    path = write(tmp_path, f"mbid,liked\n{A},0\n{B},0\n")
    with pytest.raises(LikedTracksError, match="every row has liked=0"):
        read_liked_tracks(path)
    table = read_liked_tracks(path, only_adds=True)
    assert table.values.tolist() == [[A, 0], [B, 0]]
    # Every other rule still holds.
    with pytest.raises(LikedTracksError, match="both liked and disliked"):
        validate_liked_tracks(frame([[A, "1"], [A, "0"]]), only_adds=True)


def test_missing_file(tmp_path):
    with pytest.raises(LikedTracksError, match=r"absent.csv: no such file"):
        read_liked_tracks(tmp_path / "absent.csv")


def test_a_folder_is_not_a_list(tmp_path):
    with pytest.raises(LikedTracksError, match=rf"{tmp_path.name}: is a folder"):
        read_liked_tracks(tmp_path)


def test_a_pipe_is_not_a_list(tmp_path):
    # A FIFO would block the run forever on open if it were read; it is refused first.
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(LikedTracksError, match="pipe.csv: is not a regular file"):
        read_liked_tracks(tmp_path / "pipe.csv")


@pytest.mark.parametrize("path", ["/dev/null", "/proc/self/environ", "/proc/self/cmdline", "/sys/kernel/mm/transparent_hugepage/enabled"])
def test_system_files_are_refused_before_they_are_read(path):
    with pytest.raises(LikedTracksError, match=rf"{re.escape(path)}: is a system file \(under /proc, /sys or /dev\)"):
        read_liked_tracks(path)


def test_a_link_to_the_process_environment_is_refused_and_nothing_of_it_is_shown(tmp_path, monkeypatch):
    secret = "s3cr3t-" + "x" * 20
    monkeypatch.setenv("ALBUMREC_TEST_DB_PASSWORD", secret)
    (tmp_path / "my_list.csv").symlink_to("/proc/self/environ")
    with pytest.raises(LikedTracksError) as raised:
        read_liked_tracks(tmp_path / "my_list.csv")
    assert "is a system file" in str(raised.value)
    assert secret not in str(raised.value) and "albumrec_test_db_password" not in str(raised.value).lower()


SECRET_FIRST_LINES = [
    "DB_PASSWORD=hunter2-{marker}",
    "root:x:0:0:{marker}:/root:/bin/bash",
    "export AWS_SECRET_ACCESS_KEY={marker}",
    "API_TOKEN={marker};REGION=eu",  # a semicolon, as in a list separated by semicolons
    "TOKEN\t{marker}",  # a tab, as in a list separated by tabs
    "password,{marker}",  # a comma: read as a two-column header
    "{marker}",
    "a,b,c,d,e,f,g,h,i,j,k,l,m,{marker}",  # many short names
]


@pytest.mark.parametrize("first_line", SECRET_FIRST_LINES)
def test_no_error_repeats_a_first_line_that_is_not_a_header(tmp_path, first_line):
    marker = "Zq9" + "7" * 12 + "secret"
    path = write(tmp_path, first_line.format(marker=marker) + "\nmore,lines\n")
    with pytest.raises(LikedTracksError) as raised:
        read_liked_tracks(path)
    message = str(raised.value)
    assert marker.lower() not in message.lower() and "hunter2" not in message and "REGION" not in message
    assert any(
        reason in message
        for reason in ("row 1 must be the header 'mbid,liked'", "first line is not a CSV header", "looks separated by")
    )


def test_a_plausible_header_is_still_named(tmp_path):
    path = write(tmp_path, f"recording,label\n{A},1\n")
    with pytest.raises(LikedTracksError, match=r"missing column\(s\) \['mbid', 'liked'\], found \['recording', 'label'\]"):
        read_liked_tracks(path)


def test_a_list_over_the_size_cap_is_refused_before_it_is_read(tmp_path):
    path = write(tmp_path, f"mbid,liked\n{A},1\n{B},0\n")
    assert len(read_liked_tracks(path, max_bytes=path.stat().st_size)) == 2
    with pytest.raises(LikedTracksError, match=r"list.csv: is larger than .* MB, the most albumrec reads .*ALBUMREC_MAX_INPUT_MB"):
        read_liked_tracks(path, max_bytes=path.stat().st_size - 1)


def test_a_huge_sparse_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:
        handle.write(b"mbid,liked\n")
        handle.truncate(4 * 1024**3)  # 4 GB of holes: nothing on disk, everything in memory if read
    with pytest.raises(LikedTracksError, match="huge.csv: is larger than 64 MB"):
        read_liked_tracks(path)


def test_a_list_outside_the_allowed_folders_is_refused(tmp_path, monkeypatch):
    from albumrec_pipeline.core import user_files

    allowed, other = tmp_path / "lists", tmp_path / "elsewhere"
    allowed.mkdir(), other.mkdir()
    inside = write(allowed, f"mbid,liked\n{A},1\n{B},0\n")
    outside = write(other, f"mbid,liked\n{A},1\n{B},0\n")
    (allowed / "escape.csv").symlink_to(outside)
    monkeypatch.setattr(user_files, "INPUT_DIRS", (allowed.resolve(),))
    assert len(read_liked_tracks(inside)) == 2
    for path in (outside, allowed / "escape.csv", allowed / ".." / "elsewhere" / "list.csv"):
        with pytest.raises(LikedTracksError, match=r"is outside the folders ALBUMREC_INPUT_DIRS allows"):
            read_liked_tracks(path)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   \r\n", b"\xef\xbb\xbf"])
def test_an_empty_file(tmp_path, content):
    with pytest.raises(LikedTracksError, match=r"list.csv: the file is empty"):
        read_liked_tracks(write(tmp_path, content))


@pytest.mark.parametrize("content", ["mbid,liked", "mbid,liked\n", "mbid,liked\r\n\r\n", "mbid,liked\n,\n , \n"])
def test_a_header_without_entries(tmp_path, content):
    with pytest.raises(LikedTracksError, match=r"list.csv: has a header but no rows"):
        read_liked_tracks(write(tmp_path, content))


@pytest.mark.parametrize(
    ("header", "missing"),
    [("id,liked", "['mbid']"), ("mbid,label", "['liked']"), ("recording,rating", "['mbid', 'liked']"), ("mbid", "['liked']")],
)
def test_wrong_or_missing_columns(tmp_path, header, missing):
    path = write(tmp_path, f"{header}\n{A},1\n")
    expected = rf"list.csv: row 1 must be the header 'mbid,liked'; missing column\(s\) {re.escape(missing)}"
    with pytest.raises(LikedTracksError, match=expected):
        read_liked_tracks(path)
    with pytest.raises(LikedTracksError, match="missing column"):
        validate_liked_tracks(pd.DataFrame({"id": [A]}))


def test_a_blank_first_row_is_not_a_header(tmp_path):
    with pytest.raises(LikedTracksError, match="list.csv: row 1 must be the header 'mbid,liked' but is blank"):
        read_liked_tracks(write(tmp_path, f"\nmbid,liked\n{A},1\n{B},0\n"))


def test_a_list_without_a_header_is_told_so(tmp_path):
    path = write(tmp_path, f"{A},1\n{B},0\n")
    with pytest.raises(LikedTracksError, match="row 1 holds an id, so the header seems to be missing"):
        read_liked_tracks(path)


def test_a_column_named_twice_is_refused(tmp_path):
    path = write(tmp_path, f"mbid,liked,MBID\n{A},1,{B}\n{B},0,{A}\n")
    with pytest.raises(LikedTracksError, match=r"names column\(s\) \['mbid'\] more than once"):
        read_liked_tracks(path)


def test_extra_columns_are_ignored(tmp_path):
    path = write(tmp_path, f'note,liked,mbid,rating\n"great, loud",1,{A},5\n,0,{B},\n')
    table = read_liked_tracks(path)
    assert list(table.columns) == ["mbid", "liked"]
    assert table.values.tolist() == [[A, 1], [B, 0]]


def test_columns_may_come_in_any_order_and_case(tmp_path):
    path = write(tmp_path, f" Liked , MBID \n0,{A}\n1,{B}\n")
    assert read_liked_tracks(path).values.tolist() == [[A, 0], [B, 1]]


def test_byte_order_mark_and_windows_line_endings_are_read(tmp_path):
    path = write(tmp_path, f"\ufeffMBID,Liked\r\n{A},1\r\n{B},0\r\n")
    assert read_liked_tracks(path)["mbid"].tolist() == [A, B]
    old_mac = write(tmp_path, f"mbid,liked\r{A},1\r{B},0\r", "mac.csv")
    assert read_liked_tracks(old_mac)["liked"].tolist() == [1, 0]


def test_quoted_fields_are_read(tmp_path):
    path = write(tmp_path, f'"mbid","liked","note"\n"{A}","1","says ""hi"", twice"\n"{B}", "0","line\nbreak"\n{C},"0",x\n')
    assert read_liked_tracks(path).values.tolist() == [[A, 1], [B, 0], [C, 0]]


def test_blank_rows_are_skipped_but_keep_their_row_numbers(tmp_path):
    path = write(tmp_path, f"mbid,liked,note\n{A},1,\n\n,,\n{B},0,\n\n\n")
    table = read_liked_tracks(path)
    assert table["mbid"].tolist() == [A, B]
    assert table.attrs["liked_list"]["empty_rows_skipped"] == 4
    broken = write(tmp_path, f"mbid,liked\n{A},1\n\n,\nnot-an-id,0\n", "broken.csv")
    with pytest.raises(LikedTracksError, match="row 5 does not hold"):
        read_liked_tracks(broken)


def test_a_row_with_a_note_but_no_id_is_not_an_empty_row(tmp_path):
    path = write(tmp_path, f"mbid,liked,note\n{A},1,\n,,forgot the id\n{B},0,\n")
    with pytest.raises(LikedTracksError, match="row 3 does not hold.*row 3 has a 'liked' value"):
        read_liked_tracks(path)


def test_a_row_with_too_few_fields_lacks_its_label(tmp_path):
    path = write(tmp_path, f"mbid,liked\n{A},1\n{B}\n{C},0\n")
    with pytest.raises(LikedTracksError, match="row 3 has a 'liked' value other than 0 or 1"):
        read_liked_tracks(path)


def test_text_past_the_last_column_is_refused(tmp_path):
    # An unquoted comma in a value shifts the fields of its row.
    path = write(tmp_path, f"mbid,liked\n{A},1\n{B},0,x\n{C},1\n{C},1,,,y\n")
    with pytest.raises(LikedTracksError, match=r"list.csv: rows 3, 5 have more fields than the header; quote values"):
        read_liked_tracks(path)


def test_empty_fields_past_the_last_column_are_dropped(tmp_path):
    path = write(tmp_path, f"mbid,liked\n{A},1,\n{B},0,,\n{C},1\n")
    assert read_liked_tracks(path).values.tolist() == [[A, 1], [B, 0], [C, 1]]


def test_a_trailing_empty_field_after_a_quoted_line_break_is_dropped(tmp_path):
    # The row is wider than any of its two lines; found by the fuzz test.
    path = write(tmp_path, f'mbid,liked,note,note\n{A},0,,\n{B},1,,"two\nlines",\n')
    assert read_liked_tracks(path).values.tolist() == [[A, 0], [B, 1]]


def test_an_unclosed_quote_is_located(tmp_path):
    path = write(tmp_path, f'mbid,liked\n{A},1\n"{B},0\n{C},1\n')
    with pytest.raises(LikedTracksError, match="row 3 opens a quoted field that is never closed"):
        read_liked_tracks(path)


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_other_separators_are_refused_with_a_hint(tmp_path, separator, name):
    path = write(tmp_path, f"mbid{separator}liked\n{A}{separator}1\n{B}{separator}0\n")
    with pytest.raises(LikedTracksError, match=rf"list.csv: looks separated by {name}.*CSV with commas"):
        read_liked_tracks(path)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = write(tmp_path, f"mbid,liked,note\n{A},1,ok\n{B},0,café\n".encode("latin-1"))
    with pytest.raises(LikedTracksError, match=r"list.csv: is not UTF-8 text \(byte 0xe9 on line 3\)"):
        read_liked_tracks(path)
    utf16 = write(tmp_path, f"mbid,liked\n{A},1\n{B},0\n".encode("utf-16"), "utf16.csv")
    with pytest.raises(LikedTracksError, match="utf16.csv: is UTF-16 text"):
        read_liked_tracks(utf16)


def test_a_binary_file_is_refused_cleanly(tmp_path):
    path = write(tmp_path, bytes(range(256)) * 4)
    with pytest.raises(LikedTracksError, match="list.csv"):
        read_liked_tracks(path)


def test_errors_list_ten_rows_then_how_many_more():
    rows = [[A, "1"], [B, "0"]] + [[f"bad-{index}", "1"] for index in range(25)]
    with pytest.raises(LikedTracksError) as raised:
        validate_liked_tracks(frame(rows))
    assert "rows 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 and 15 more do not hold" in str(raised.value)


def _big_list(count: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    ids = [recording_id(int(number)) for number in rng.choice(10**9, size=count, replace=False)]
    return ids, rng.integers(0, 2, size=count)


def test_a_list_of_100k_recordings(tmp_path):
    ids, labels = _big_list(100_000)
    text = "mbid,liked\r\n" + "".join(f"{mbid.upper()},{label}\r\n" for mbid, label in zip(ids, labels, strict=True))
    # The same recordings once more, same labels, at the end.
    text += "".join(f"{mbid},{label}\r\n" for mbid, label in zip(ids[:1000], labels[:1000], strict=True))
    table = read_liked_tracks(write(tmp_path, text))
    assert table["mbid"].tolist() == ids
    assert np.array_equal(table["liked"].to_numpy(), labels)
    assert table.attrs["liked_list"]["repeated_recordings_dropped"] == 1000


def test_a_list_of_100k_broken_rows_names_the_first_ten(tmp_path):
    ids, labels = _big_list(100_000, seed=1)
    pairs = list(enumerate(zip(ids, labels, strict=True)))
    rows = "".join(f"{mbid},{label},\n" if index % 2 else f"{mbid},{label},x\n" for index, (mbid, label) in pairs)
    with pytest.raises(LikedTracksError, match=r"rows 2, 4, 6, 8, 10, 12, 14, 16, 18, 20 and 49990 more have more fields"):
        read_liked_tracks(write(tmp_path, "mbid,liked\n" + rows))
    rows = "".join(f"{mbid},{'yes' if index % 4 == 0 else label}\n" for index, (mbid, label) in pairs)
    with pytest.raises(LikedTracksError, match=r"rows 2, 6, 10, 14, 18, 22, 26, 30, 34, 38 and 24990 more have a 'liked' value"):
        read_liked_tracks(write(tmp_path, "mbid,liked\n" + rows))


def test_the_list_the_environment_names_needs_no_allowed_folder(tmp_path, monkeypatch):
    """ALBUMREC_INPUT_DIRS guards Launchpad paths; the operator's own ALBUMREC_LIKED_TRACKS is trusted."""
    from albumrec_pipeline.core import user_files

    allowed, elsewhere = tmp_path / "lists", tmp_path / "operator"
    allowed.mkdir(), elsewhere.mkdir()
    configured = write(elsewhere, f"mbid,liked\n{A},1\n{B},0\n")
    other = write(elsewhere, f"mbid,liked\n{A},1\n{B},0\n", name="other.csv")
    monkeypatch.setattr(user_files, "INPUT_DIRS", (allowed.resolve(),))
    monkeypatch.setattr(user_files, "LIKED_TRACKS_CSV", configured)
    assert len(read_liked_tracks(configured)) == 2
    with pytest.raises(LikedTracksError, match="is outside the folders ALBUMREC_INPUT_DIRS allows"):
        read_liked_tracks(other)
