"""`albumrec import listenbrainz` and `listenbrainz-export` against a ListenBrainz stand-in on 127.0.0.1.

The stand-in answers the feedback API in its real shape (newest first, at most `max_items` rows a
request, `count`/`offset`/`total_count`, 404 for an unknown user, `X-RateLimit-*` headers and 429),
and the export zips are written in the layout ListenBrainz gives them. Pauses are shrunk; every
claim about requests is checked from the server's log.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests

from albumrec_pipeline import cli
from albumrec_pipeline.core.liked_tracks import read_liked_tracks
from albumrec_pipeline.core.listenbrainz import (
    FeedbackRow,
    imported_feedback,
    merge_into_list,
)
from albumrec_pipeline.resources import listenbrainz_api
from albumrec_pipeline.settings import LISTENBRAINZ_URL_ENV_VAR, read_service_url
from albumrec_pipeline.settings_error import SettingsError
from albumrec_pipeline_tests.fake_services import (
    FakeListenBrainz,
    make_id,
    serve,
    write_listenbrainz_export,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FEEDBACK_PATH = "/get-feedback"
FAST = {
    "requests_per_window": 1000,
    "window_seconds": 1.0,
    "timeout_seconds": 2.0,
    "max_attempts": 3,
    "backoff_seconds": 0.02,
    "max_backoff_seconds": 0.05,
}


def rid(number: int) -> str:
    return make_id("recording", number)


def msid(number: int) -> str:
    return make_id("listenbrainz-msid", number)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeListenBrainz, str]]:
    fake = FakeListenBrainz()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def listenbrainz(server, tmp_path, monkeypatch) -> FakeListenBrainz:
    """A clean stand-in, named by ALBUMREC_LISTENBRAINZ_URL, and a CLI whose client keeps its state
    in this test's folder and pauses briefly."""
    fake, url = server
    fake.reset()
    monkeypatch.setenv(LISTENBRAINZ_URL_ENV_VAR, url)
    monkeypatch.delenv(listenbrainz_api.TOKEN_ENV_VAR, raising=False)
    real = listenbrainz_api.client_from_environment
    monkeypatch.setattr(
        listenbrainz_api,
        "client_from_environment",
        functools.partial(real, state_dir=str(tmp_path / "state"), **FAST),
    )
    return fake


def run(*argv: str, capsys) -> tuple[int, str, str]:
    code = cli.main(["import", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def as_dict(path: Path) -> dict[str, int]:
    table = read_liked_tracks(path)
    return dict(zip(table["mbid"], table["liked"].astype(int), strict=True))


def taste(fake: FakeListenBrainz, user: str, loved: range, hated: range) -> dict[str, int]:
    """Feedback with MBIDs (and MSIDs, as a listen gives both), oldest first; the list it should give."""
    expected = {}
    for number in sorted([*loved, *hated]):
        score = 1 if number in loved else -1
        fake.add_feedback(user, score, mbid=rid(number), msid=msid(number), created=1_700_000_000 + number * 10)
        expected[rid(number)] = 1 if score == 1 else 0
    return expected


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- the API ------------------------------------------------------------------------------------


def test_pages_through_all_feedback_by_the_rows_each_answer_holds(listenbrainz, tmp_path, capsys):
    listenbrainz.max_items = 4  # the server gives fewer rows than asked for, as the real one past 1000
    expected = taste(listenbrainz, "rob", loved=range(7), hated=range(7, 11))
    output = tmp_path / "rob.csv"

    code, out, err = run("listenbrainz", "rob", "--output", str(output), capsys=capsys)

    assert code == 0, err
    requests = listenbrainz.log
    assert [r.args["offset"] for r in requests] == ["0", "4", "8"]
    assert all(r.args["count"] == "1000" and r.path == "/1/feedback/user/rob/get-feedback" for r in requests)
    assert all(r.user_agent.startswith("albumrec/") for r in requests)
    assert as_dict(output) == expected
    # Oldest feedback first, whatever order the pages came in.
    assert read_liked_tracks(output)["mbid"].tolist() == list(expected)
    assert out.splitlines() == [
        "ListenBrainz user rob: 7 loved, 4 hated, 0 MSID-only skipped",
        f"wrote {output}: 11 recordings (7 liked, 4 disliked)",
    ]


def test_a_429_is_sat_out_for_x_ratelimit_reset_in_then_asked_again(listenbrainz, tmp_path, capsys):
    listenbrainz.max_items = 3
    expected = taste(listenbrainz, "rob", loved=range(4), hated=range(4, 8))
    listenbrainz.inject(
        FEEDBACK_PATH, "status", status=429, query="offset=3",
        headers={"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "0.4"},
    )

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 0, err
    log = listenbrainz.log
    assert [(r.args["offset"], r.status) for r in log] == [("0", 200), ("3", 429), ("3", 200), ("6", 200)]
    assert log[2].at - log[1].at >= 0.38  # the server's pause, not the 0.02 s backoff
    assert as_dict(tmp_path / "rob.csv") == expected


def test_a_window_spent_by_someone_else_is_waited_out(listenbrainz, server, tmp_path, capsys):
    _, url = server
    expected = taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))
    listenbrainz.window = (2, 2.0)
    # Another client on this address spends the window first; start with most of a window left.
    while True:
        answer = requests.get(f"{url}/1/feedback/user/rob/get-feedback", timeout=5)
        if answer.status_code == 429 and float(answer.headers["X-RateLimit-Reset-In"]) > 1.0:
            break
    spent = len(listenbrainz.log)

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 0, err
    ours = listenbrainz.log[spent:]
    assert [r.status for r in ours] == [429, 200]
    assert ours[1].at - ours[0].at >= 0.9  # sat out the rest of the window it was told of
    assert as_dict(tmp_path / "rob.csv") == expected


def test_the_budget_in_the_headers_is_kept_so_no_429_comes(listenbrainz, tmp_path, capsys):
    listenbrainz.max_items = 2
    listenbrainz.window = (2, 0.5)  # two requests per half second, said in every answer's headers
    expected = taste(listenbrainz, "rob", loved=range(5), hated=range(5, 10))

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 0, err
    log = listenbrainz.log
    assert [r.status for r in log] == [200] * 5, [(r.args, r.status) for r in log]
    # Five requests at two per window span at least two window changes.
    assert log[-1].at - log[0].at >= 0.5
    assert as_dict(tmp_path / "rob.csv") == expected


def test_msid_only_rows_are_counted_and_left_out(listenbrainz, tmp_path, capsys):
    expected = taste(listenbrainz, "rob", loved=range(3), hated=range(3, 5))
    listenbrainz.add_feedback("rob", 1, msid=msid(50), created=1_700_000_500)
    listenbrainz.add_feedback("rob", -1, msid=msid(51), created=1_700_000_600)
    listenbrainz.add_feedback("rob", 1, msid=msid(52), created=1_700_000_700)

    code, out, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 0, err
    assert out.splitlines()[0].startswith("ListenBrainz user rob: 3 loved, 2 hated, 3 MSID-only skipped (")
    assert as_dict(tmp_path / "rob.csv") == expected
    assert not any(msid(n) in (tmp_path / "rob.csv").read_text() for n in (50, 51, 52))


def test_a_user_without_feedback_is_told_so_and_nothing_is_written(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path)
    listenbrainz.users["quiet"] = []

    code, out, err = run("listenbrainz", "quiet", capsys=capsys)

    assert code == 1 and out == ""
    assert one_line(err) == "albumrec: no loved or hated recordings for ListenBrainz user quiet; nothing written"
    assert list(tmp_path.glob("*.csv")) == []


def test_a_user_with_only_msid_feedback_is_told_why_nothing_was_written(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path)
    listenbrainz.add_feedback("old", 1, msid=msid(1))
    listenbrainz.add_feedback("old", -1, msid=msid(2))

    code, _, err = run("listenbrainz", "old", capsys=capsys)

    assert code == 1
    assert "no loved or hated recordings for ListenBrainz user old (2 MSID-only rows skipped" in one_line(err)
    assert list(tmp_path.glob("*.csv")) == []


def test_the_default_output_is_in_the_data_folder_named_after_the_user(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path)
    expected = taste(listenbrainz, "dj/rob x", loved=range(2), hated=range(2, 3))

    code, out, err = run("listenbrainz", "dj/rob x", capsys=capsys)

    assert code == 0, err
    # The name travels escaped in the path and arrives whole.
    assert listenbrainz.log[0].path == "/1/feedback/user/dj/rob x/get-feedback"
    written = tmp_path / "listenbrainz_dj_rob_x.csv"
    assert as_dict(written) == expected
    assert out.splitlines()[1] == f"wrote {written}: 3 recordings (2 liked, 1 disliked)"


def test_an_unknown_user_is_one_line_and_asked_once(listenbrainz, tmp_path, capsys):
    code, out, err = run("listenbrainz", "nobody", "--output", str(tmp_path / "x.csv"), capsys=capsys)

    assert code == 1 and out == ""
    assert one_line(err) == (
        "albumrec: ListenBrainz has no user 'nobody' (GET /1/feedback/user/nobody/get-feedback answered 404)"
    )
    assert [r.status for r in listenbrainz.log] == [404]
    assert not (tmp_path / "x.csv").exists()


def test_a_service_that_stays_down_fails_after_the_retries_in_one_line(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))
    listenbrainz.inject(FEEDBACK_PATH, "status", times=-1, status=503)

    code, out, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 1 and out == ""
    line = one_line(err)
    assert line.startswith("albumrec: ListenBrainz GET /1/feedback/user/rob/get-feedback (user rob): answered 503")
    assert "3 attempts in a row" in line
    assert [r.status for r in listenbrainz.log] == [503, 503, 503]
    assert not (tmp_path / "rob.csv").exists()


def test_an_unreachable_server_fails_in_one_line(listenbrainz, tmp_path, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    monkeypatch.setenv(LISTENBRAINZ_URL_ENV_VAR, f"http://127.0.0.1:{closed_port}")

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 1
    assert "could not reach" in one_line(err) and "3 attempts in a row" in err
    assert not (tmp_path / "rob.csv").exists()


def test_a_run_that_failed_part_way_asks_again_only_for_the_missing_pages(listenbrainz, tmp_path, capsys):
    listenbrainz.max_items = 3
    expected = taste(listenbrainz, "rob", loved=range(4), hated=range(4, 8))
    fault = listenbrainz.inject(FEEDBACK_PATH, "status", times=-1, status=502, query="offset=6")
    output = tmp_path / "rob.csv"

    assert run("listenbrainz", "rob", "--output", str(output), capsys=capsys)[0] == 1
    assert not output.exists()
    fault.times = 0
    first_run = len(listenbrainz.log)
    code, _, err = run("listenbrainz", "rob", "--output", str(output), capsys=capsys)

    assert code == 0, err
    assert [r.args["offset"] for r in listenbrainz.log[first_run:]] == ["6"]
    assert as_dict(output) == expected


def test_an_answer_of_another_shape_is_refused(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))
    listenbrainz.inject(FEEDBACK_PATH, "garble", times=-1, body={"payload": {"feedback": []}})

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 1
    assert "unexpected answer: 'feedback' is not a list" in one_line(err)
    assert not (tmp_path / "rob.csv").exists()


def test_a_row_with_an_unknown_score_is_refused_not_guessed(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))
    listenbrainz.add_feedback("rob", 5, mbid=rid(9), created=1_800_000_000)

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 1
    assert "row 1: 'score' is 5, not 1 (loved) or -1 (hated)" in one_line(err)


def test_only_loved_recordings_make_a_liked_only_list(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "fan", loved=range(5), hated=range(0))

    code, _, _ = run("listenbrainz", "fan", "--output", str(tmp_path / "fan.csv"), capsys=capsys)

    assert code == 0
    written = read_liked_tracks(tmp_path / "fan.csv")
    assert sorted(written["mbid"]) == sorted(rid(n) for n in range(5)) and set(written["liked"]) == {1}


def test_only_hated_recordings_make_no_list_of_their_own(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "critic", loved=range(0), hated=range(4))

    code, _, err = run("listenbrainz", "critic", "--output", str(tmp_path / "critic.csv"), capsys=capsys)

    assert code == 1
    line = one_line(err)
    assert "critic has 4 hated and no loved recordings" in line and "--merge-into PATH" in line
    assert not (tmp_path / "critic.csv").exists()


def test_the_token_is_sent_and_never_printed_or_stored(listenbrainz, tmp_path, monkeypatch, capsys):
    token = "f2ba7fb8-4b8e-44f5-9a57-7d6ba3e63c10"
    monkeypatch.setenv(listenbrainz_api.TOKEN_ENV_VAR, token)
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))

    code, out, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)
    missing = run("listenbrainz", "nobody", "--output", str(tmp_path / "x.csv"), capsys=capsys)

    assert code == 0 and missing[0] == 1
    assert {r.authorization for r in listenbrainz.log} == {f"Token {token}"}
    assert token not in out + err + missing[1] + missing[2]
    stored = [path for path in (tmp_path / "state").rglob("*") if path.is_file()]
    # The cache holds the answers in plain bytes, so a stored token would show here.
    assert any(path.name.startswith("listenbrainz_http_cache") and rid(0).encode() in path.read_bytes() for path in stored)
    assert all(token.encode() not in path.read_bytes() for path in stored)


def test_without_a_token_no_authorization_is_sent(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(listenbrainz_api.TOKEN_ENV_VAR, "  ")  # empty means unset
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))

    assert run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)[0] == 0
    assert {r.authorization for r in listenbrainz.log} == {""}


def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(listenbrainz_api.TOKEN_ENV_VAR, "secret part\nX-Injected: 1")

    code, _, err = run("listenbrainz", "rob", "--output", str(tmp_path / "rob.csv"), capsys=capsys)

    assert code == 1
    line = one_line(err)
    assert listenbrainz_api.TOKEN_ENV_VAR in line and "secret" not in line
    assert listenbrainz.log == []


# --- merging ------------------------------------------------------------------------------------


def test_merge_keeps_the_list_as_it_is_and_its_labels_win(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(3), hated=range(3, 5))  # 0, 1, 2 loved; 3, 4 hated
    own = tmp_path / "mine.csv"
    # A spreadsheet's file: byte-order mark, CRLF, a note column, columns in another order.
    original = (
        "\ufeffLiked,MBID,note\r\n"
        f"0,{rid(1)},loved it once\r\n"  # ListenBrainz says loved: the list says otherwise and wins
        f"1,{rid(3)},\r\n"  # hated on ListenBrainz, liked here
        f"0,{rid(90)},not on ListenBrainz\r\n"
    ).encode()
    own.write_bytes(original)

    code, out, err = run("listenbrainz", "rob", "--merge-into", str(own), capsys=capsys)

    assert code == 0, err
    merged = own.read_bytes()
    assert merged.startswith(original)
    # Appended in the list's own column order and line endings, oldest feedback first.
    assert merged[len(original):].decode() == f"1,{rid(0)},\r\n1,{rid(2)},\r\n0,{rid(4)},\r\n"
    assert as_dict(own) == {rid(1): 0, rid(3): 1, rid(90): 0, rid(0): 1, rid(2): 1, rid(4): 0}
    assert out.splitlines()[1] == (
        f"merged into {own}: added 3 recordings (2 liked, 1 disliked); kept 3 recordings from the existing list; "
        "2 imported recordings were listed already and keep the list's label, 2 of them labelled otherwise on ListenBrainz"
    )


def test_merge_with_output_leaves_the_list_untouched(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "fan", loved=range(4), hated=range(0))
    own = tmp_path / "mine.csv"
    own.write_text(f"mbid,liked\n{rid(80)},0\n{rid(81)},1")  # no line break at the end
    before = own.read_bytes()

    code, out, err = run("listenbrainz", "fan", "--merge-into", str(own), "--output", str(tmp_path / "both.csv"), capsys=capsys)

    assert code == 0, err
    assert own.read_bytes() == before
    assert as_dict(tmp_path / "both.csv") == {rid(80): 0, rid(81): 1, **{rid(n): 1 for n in range(4)}}
    assert f"merged {own} into {tmp_path / 'both.csv'}: added 4 recordings (4 liked, 0 disliked)" in out


def test_merging_nothing_new_leaves_the_file_alone(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(1), hated=range(1, 2))
    own = tmp_path / "mine.csv"
    own.write_text(f"mbid,liked\n{rid(0)},1\n{rid(1)},0\n")
    written_at = own.stat().st_mtime_ns

    code, out, _ = run("listenbrainz", "rob", "--merge-into", str(own), capsys=capsys)

    assert code == 0
    assert own.stat().st_mtime_ns == written_at
    assert out.splitlines()[1].startswith(f"nothing to add to {own}; kept 2 recordings from the existing list; 2 imported")


def test_merge_into_a_missing_or_broken_list_is_refused(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(2), hated=range(2, 4))
    broken = tmp_path / "broken.csv"
    broken.write_text(f"mbid,liked\n{rid(0)},yes\n")

    missing = run("listenbrainz", "rob", "--merge-into", str(tmp_path / "none.csv"), capsys=capsys)
    bad = run("listenbrainz", "rob", "--merge-into", str(broken), capsys=capsys)

    assert missing[0] == 1 and "no such list to merge into" in one_line(missing[2])
    assert bad[0] == 1 and "row 2 has a 'liked' value other than 0 or 1" in one_line(bad[2])
    assert broken.read_text() == f"mbid,liked\n{rid(0)},yes\n"
    assert not (tmp_path / "none.csv").exists()


# --- the export zip -----------------------------------------------------------------------------


def export_rows(fake: FakeListenBrainz, user: str) -> list[dict]:
    return [dict(row) for row in fake.users[user]]


def test_the_export_gives_the_same_list_as_the_api(listenbrainz, tmp_path, capsys):
    taste(listenbrainz, "rob", loved=range(6), hated=range(6, 9))
    listenbrainz.add_feedback("rob", 1, msid=msid(40), created=1_700_001_000)
    archive = tmp_path / "listenbrainz_rob_1745000000.zip"
    write_listenbrainz_export(archive, "rob", export_rows(listenbrainz, "rob"))

    from_api = run("listenbrainz", "rob", "--output", str(tmp_path / "api.csv"), capsys=capsys)
    from_zip = run("listenbrainz-export", str(archive), "--output", str(tmp_path / "zip.csv"), capsys=capsys)

    assert from_api[0] == 0 and from_zip[0] == 0, from_zip[2]
    assert (tmp_path / "zip.csv").read_bytes() == (tmp_path / "api.csv").read_bytes()
    assert from_zip[1].splitlines()[0].startswith(
        f"the ListenBrainz export of rob ({archive}): 6 loved, 3 hated, 1 MSID-only skipped"
    )
    with zipfile.ZipFile(archive) as made:  # the layout the export has
        assert sorted(made.namelist()) == ["feedback.jsonl", "listens/2021/4.jsonl", "user.json"]


def test_the_export_default_output_is_named_after_its_user(listenbrainz, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "DATA_DIR", tmp_path / "data")
    rows = [
        {"recording_mbid": rid(1), "recording_msid": None, "score": 1, "created": 1},
        {"recording_mbid": rid(2), "recording_msid": msid(2), "score": -1, "created": 2},
    ]
    write_listenbrainz_export(tmp_path / "export.zip", "ann", rows)

    code, out, err = run("listenbrainz-export", str(tmp_path / "export.zip"), capsys=capsys)

    assert code == 0, err
    written = tmp_path / "data" / "listenbrainz_ann.csv"
    assert as_dict(written) == {rid(1): 1, rid(2): 0}
    assert out.splitlines()[1] == f"wrote {written}: 2 recordings (1 liked, 1 disliked)"


def test_an_export_without_feedback_says_so(listenbrainz, tmp_path, capsys):
    write_listenbrainz_export(tmp_path / "export.zip", "quiet", feedback=None)

    code, _, err = run("listenbrainz-export", str(tmp_path / "export.zip"), "--output", str(tmp_path / "q.csv"), capsys=capsys)

    assert code == 1
    assert one_line(err).startswith(
        f"albumrec: no loved or hated recordings for the ListenBrainz export of quiet ({tmp_path / 'export.zip'}): "
        "it holds no feedback.jsonl"
    )
    assert not (tmp_path / "q.csv").exists()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda path: path.write_bytes(b"PK\x03\x04 not really a zip"), "is not a zip file"),
        (lambda path: path.write_text("mbid,liked\n"), "is not a zip file"),
        (lambda path: zipfile.ZipFile(path, "w").writestr("notes.txt", "hello"), "is not a ListenBrainz export"),
        (
            lambda path: zipfile.ZipFile(path, "w").writestr(
                "feedback.jsonl", '{"score": 1, "created": 1, "recording_mbid": null, "recording_msid": null}\n'
            ),
            "feedback.jsonl line 1: names no recording",
        ),
        (
            lambda path: zipfile.ZipFile(path, "w").writestr(
                "feedback.jsonl", f'{{"score": 1, "created": 1, "recording_mbid": "{rid(1)}"}}\n{{"score": 1,\n'
            ),
            "feedback.jsonl line 2 is not a JSON object",
        ),
    ],
    ids=["damaged", "not-a-zip", "other-zip", "no-recording", "cut-line"],
)
def test_a_bad_export_is_one_line_and_writes_nothing(listenbrainz, tmp_path, capsys, make, message):
    archive = tmp_path / "export.zip"
    make(archive)

    code, out, err = run("listenbrainz-export", str(archive), "--output", str(tmp_path / "x.csv"), capsys=capsys)

    assert code == 1 and out == ""
    assert message in one_line(err)
    assert not (tmp_path / "x.csv").exists()


def test_a_missing_export_is_one_line(listenbrainz, tmp_path, capsys):
    code, _, err = run("listenbrainz-export", str(tmp_path / "nowhere.zip"), capsys=capsys)

    assert code == 1 and "nowhere.zip: no such file" in one_line(err)


# --- the pure parts -----------------------------------------------------------------------------


def test_the_newest_feedback_wins_and_a_tie_that_disagrees_is_left_out():
    rows = [
        FeedbackRow(rid(1), None, 1, 100.0),
        FeedbackRow(rid(1), msid(1), -1, 200.0),  # hated later: hated
        FeedbackRow(rid(2), None, -1, None),
        FeedbackRow(rid(2), None, 1, 50.0),  # a dated row is later than an undated one
        FeedbackRow(rid(3), None, 1, 300.0),
        FeedbackRow(rid(3), msid(3), -1, 300.0),  # loved and hated at the same second: no guess
        FeedbackRow(None, msid(4), 1, 400.0),
    ]

    imported = imported_feedback(rows)

    assert dict(zip(imported.table["mbid"], imported.table["liked"], strict=True)) == {rid(2): 1, rid(1): 0}
    assert (imported.loved, imported.hated, imported.msid_only) == (1, 1, 1)
    assert (imported.superseded, imported.undecided) == (3, 1)


def test_merge_appends_into_the_lists_own_columns():
    existing_bytes = f"note,liked,mbid\nold,1,{rid(1)}\n".encode()
    existing = pd.DataFrame({"mbid": [rid(1)], "liked": pd.Series([1], dtype="int8")})
    imported = pd.DataFrame({"mbid": [rid(1), rid(2)], "liked": pd.Series([0, 0], dtype="int8")})

    merged = merge_into_list(existing_bytes, existing, imported, "mine.csv")

    assert merged.payload == existing_bytes + f",0,{rid(2)}\n".encode()
    assert (merged.kept, len(merged.added), merged.already_listed, merged.differing) == (1, 1, 1, 1)


# --- settings and the real command ----------------------------------------------------------------


def test_the_listenbrainz_url_setting_is_checked():
    assert read_service_url(LISTENBRAINZ_URL_ENV_VAR, {LISTENBRAINZ_URL_ENV_VAR: " http://127.0.0.1:8080 "}) == (
        "http://127.0.0.1:8080"
    )
    assert read_service_url(LISTENBRAINZ_URL_ENV_VAR, {}) is None
    assert read_service_url(LISTENBRAINZ_URL_ENV_VAR, {LISTENBRAINZ_URL_ENV_VAR: "  "}) is None
    with pytest.raises(SettingsError, match=r"ALBUMREC_LISTENBRAINZ_URL='listenbrainz\.org' is not an http\(s\) URL"):
        read_service_url(LISTENBRAINZ_URL_ENV_VAR, {LISTENBRAINZ_URL_ENV_VAR: "listenbrainz.org"})


def _albumrec(tmp_path: Path, url: str, *argv: str) -> subprocess.CompletedProcess:
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ALBUMREC_")},
        "ALBUMREC_DATA_DIR": str(tmp_path / "data"),
        LISTENBRAINZ_URL_ENV_VAR: url,
    }
    return subprocess.run(
        [sys.executable, "-m", "albumrec_pipeline.cli", "import", *argv],
        check=False, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )


def test_the_albumrec_command_imports_and_fails_cleanly(listenbrainz, server, tmp_path):
    _, url = server
    expected = taste(listenbrainz, "rob", loved=range(2), hated=range(2, 3))

    done = _albumrec(tmp_path, url, "listenbrainz", "rob")
    unknown = _albumrec(tmp_path, url, "listenbrainz", "nobody")
    bad_setting = _albumrec(tmp_path, "ftp://example.org", "listenbrainz", "rob")

    assert done.returncode == 0, done.stderr
    assert as_dict(tmp_path / "data" / "listenbrainz_rob.csv") == expected
    assert done.stdout.splitlines()[1] == f"wrote {tmp_path / 'data' / 'listenbrainz_rob.csv'}: 3 recordings (2 liked, 1 disliked)"
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert one_line(unknown.stderr) == (
        "albumrec: ListenBrainz has no user 'nobody' (GET /1/feedback/user/nobody/get-feedback answered 404)"
    )
    assert bad_setting.returncode == 2 and "ALBUMREC_LISTENBRAINZ_URL='ftp://example.org'" in one_line(bad_setting.stderr)
