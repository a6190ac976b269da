"""Feedback on recommendations: recorded per recording, albums resolved to their tracks, and
applied over the listener's list (the later word wins)."""

import hashlib
import multiprocessing
import os
import tracemalloc

import pandas as pd
import pytest

from albumrec_pipeline.cli import main
from albumrec_pipeline.core import feedback as feedback_module
from albumrec_pipeline.core.feedback import (
    album_recordings,
    apply_feedback,
    input_fingerprint,
    read_feedback,
    record_feedback,
)
from albumrec_pipeline.core.history import dated_recommendations
from albumrec_pipeline.core.liked_tracks import LikedTracksError
from albumrec_pipeline_tests.factories import recording_id


def _labels(pairs):
    return pd.DataFrame({"mbid": [recording_id(n) for n, _ in pairs], "liked": pd.Series([v for _, v in pairs], dtype="int8")})


def test_feedback_relabels_and_adds():
    merged = apply_feedback(_labels([(0, 1), (1, 0), (2, 1)]), _labels([(1, 1), (2, 1), (7, 0)]))
    assert dict(zip(merged.table["mbid"], merged.table["liked"])) == {
        recording_id(0): 1, recording_id(1): 1, recording_id(2): 1, recording_id(7): 0
    }
    assert (merged.added, merged.relabelled) == (1, 1)


def test_feedback_cannot_leave_no_liked_recording():
    with pytest.raises(LikedTracksError, match="no recording is liked"):
        apply_feedback(_labels([(0, 1), (1, 0)]), _labels([(0, 0)]))
    # Liked recordings alone are a list the liked-only mode learns from.
    merged = apply_feedback(_labels([(0, 1), (1, 0)]), _labels([(1, 1)]))
    assert set(merged.table["liked"]) == {1}


def test_no_feedback_file_or_a_header_alone_is_no_feedback(tmp_path):
    assert read_feedback(tmp_path / "feedback.csv").empty
    (tmp_path / "feedback.csv").write_text("mbid,liked\r\n\r\n")
    assert read_feedback(tmp_path / "feedback.csv").empty
    (tmp_path / "feedback.csv").write_text("mbid,liked\nnot-an-id,1\n")
    with pytest.raises(LikedTracksError, match="row 2"):
        read_feedback(tmp_path / "feedback.csv")
    # One line that is not the header is not "no feedback": it is refused, never overwritten.
    (tmp_path / "feedback.csv").write_text("garbage;;\n")
    with pytest.raises(LikedTracksError):
        read_feedback(tmp_path / "feedback.csv")
    with pytest.raises(LikedTracksError):
        record_feedback(tmp_path / "feedback.csv", [recording_id(1)], liked=True)
    assert (tmp_path / "feedback.csv").read_text() == "garbage;;\n"


def test_marking_again_replaces_the_label_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "sub" / "feedback.csv"
    record_feedback(path, [recording_id(1), recording_id(2)], liked=True)
    record_feedback(path, [recording_id(2).upper(), recording_id(3)], liked=False)
    table = read_feedback(path)
    assert dict(zip(table["mbid"], table["liked"])) == {recording_id(1): 1, recording_id(2): 0, recording_id(3): 0}
    # The lock file stays: removing it while another writer waits on it would let two writers in.
    assert sorted(item.name for item in path.parent.iterdir()) == ["feedback.csv", "feedback.csv.lock"]
    # Readable as an ordinary new file is, not only by its owner (temporary files start at 0600).
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def _mark_one_by_one(path, ids, liked, barrier):
    barrier.wait()
    for mbid in ids:
        record_feedback(path, [mbid], liked)


def test_concurrent_marks_are_all_kept(tmp_path):
    path = tmp_path / "feedback.csv"
    ids = [recording_id(number) for number in range(90)]
    shares = [ids[index::8] for index in range(8)]
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    barrier = context.Barrier(len(shares))
    workers = [
        context.Process(target=_mark_one_by_one, args=(path, share, index % 2 == 0, barrier))
        for index, share in enumerate(shares)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0] * len(workers)
    table = read_feedback(path)
    assert len(table) == len(ids)
    assert dict(zip(table["mbid"], table["liked"])) == {
        mbid: int(index % 2 == 0) for index, share in enumerate(shares) for mbid in share
    }


def _tracklists():
    return pd.DataFrame(
        {
            "release_id": ["r1", "r1", "r2", "r2", "r3"],
            "release_group_id": ["g1", "g1", "g1", "g1", "g3"],
            "recording_id": [recording_id(n) for n in range(5)],
            "album_title": ["A", "A", "A (reissue)", "A (reissue)", "B"],
            "album_artist": ["X"] * 4 + ["Y"],
        }
    )


def test_an_album_id_names_its_tracks_once():
    kind, rows = album_recordings(_tracklists(), "G1")
    assert kind == "album" and rows["recording_id"].tolist() == [recording_id(0), recording_id(1)]
    # The edition the ranking judged the group on, when it is known.
    kind, rows = album_recordings(_tracklists(), "g1", {"g1": "r2"})
    assert rows["release_id"].unique().tolist() == ["r2"]
    kind, rows = album_recordings(_tracklists(), "r2")
    assert kind == "album" and rows["release_id"].unique().tolist() == ["r2"]
    kind, rows = album_recordings(_tracklists(), recording_id(4))
    assert kind == "recording" and len(rows) == 1
    with pytest.raises(LookupError, match="album_recommendations"):
        album_recordings(_tracklists(), "nothing")


def test_cli_marks_an_album(tmp_path, capsys):
    warehouse, feedback = tmp_path / "warehouse", tmp_path / "feedback.csv"
    warehouse.mkdir()
    _tracklists().to_parquet(warehouse / "candidate_albums.parquet")
    assert main(["feedback", "g3", "--disliked", "--warehouse", str(warehouse), "--file", str(feedback)]) == 0
    out = capsys.readouterr().out
    assert "1 tracks of 'B' by Y disliked" in out
    # Not the file liked_tracks reads by default: the command says so instead of promising a retrain.
    assert "feedback_csv_path" in out and "sensor" not in out
    assert read_feedback(feedback)["liked"].tolist() == [0]
    assert main(["feedback", "unknown", "--liked", "--warehouse", str(warehouse), "--file", str(feedback)]) == 1
    assert "not a release group" in capsys.readouterr().err


def _cannot_write(capsys, path, arguments):
    assert main(["feedback", *arguments, "--file", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert f"{path} cannot be written" in captured.err
    return captured.err


def test_cli_says_when_the_feedback_file_cannot_be_written(tmp_path, capsys, monkeypatch):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    _tracklists().to_parquet(warehouse / "candidate_albums.parquet")
    arguments = ["g3", "--liked", "--warehouse", str(warehouse)]
    # A folder that cannot be made: its would-be parent is a regular file.
    (tmp_path / "blocker").write_text("")
    _cannot_write(capsys, tmp_path / "blocker" / "feedback.csv", arguments)
    # A feedback file nobody may write is left as it is, though the folder would allow replacing it.
    read_only = tmp_path / "read-only.csv"
    read_only.write_text("mbid,liked\n")
    read_only.chmod(0o444)
    assert "read-only" in _cannot_write(capsys, read_only, arguments)
    assert read_only.read_text() == "mbid,liked\n"
    # A folder the account may not write in (simulated: root may write anywhere).
    def refused(path, payload):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(feedback_module, "atomic_write_bytes", refused)
    assert "Permission denied" in _cannot_write(capsys, tmp_path / "feedback.csv", arguments)


def test_fingerprint_follows_content_not_time(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("mbid,liked\n")
    before = input_fingerprint(first, second)
    first.touch()
    assert input_fingerprint(first, second) == before
    second.write_text("mbid,liked\n")
    assert input_fingerprint(first, second) != before


def test_fingerprint_reads_large_files_in_chunks(tmp_path):
    large, missing = tmp_path / "large.csv", tmp_path / "missing.csv"
    content = bytes(range(256)) * (8 * 4096) + b"tail"  # 8 MiB and a bit: not a whole number of chunks
    large.write_bytes(content)
    expected = hashlib.sha256()
    for path, data in ((large, content), (missing, b"")):
        expected.update(str(path).encode() + b"\0" + data + b"\0\0")
    tracemalloc.start()
    try:
        fingerprint = input_fingerprint(large, missing)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The digest recorded by earlier runs stays valid.
    assert fingerprint == expected.hexdigest()
    # Never the whole file in memory at once.
    assert peak < 3 * 1024 * 1024


def _ranking(groups, recommended):
    return pd.DataFrame(
        {
            "rank": range(1, len(groups) + 1),
            "release_id": [f"rel-{group}" for group in groups],
            "release_group_id": groups,
            "album_title": groups,
            "album_artist": ["X"] * len(groups),
            "release_year": [2000] * len(groups),
            "predicted_liked_share": [0.8] * len(groups),
            "mean_score": [0.7] * len(groups),
            "recommended": recommended,
        }
    )


def test_history_flags_albums_recommended_on_earlier_days():
    monday = dated_recommendations(_ranking(["g1", "g2", "g3"], [True, True, False]), "2026-11-23", pd.DataFrame())
    assert monday["album_id"].tolist() == ["g1", "g2"] and monday["is_new"].all()
    # Tuesday was missed; Wednesday sees Monday's albums as seen before, g3 as new.
    wednesday = dated_recommendations(_ranking(["g1", "g3"], [True, True]), "2026-11-25", monday)
    assert dict(zip(wednesday["album_id"], wednesday["is_new"])) == {"g1": False, "g3": True}
    assert wednesday.set_index("album_id").loc["g1", "first_recommended_on"] == "2026-11-23"
    # Re-running Monday ignores what later days recorded.
    again = dated_recommendations(_ranking(["g1", "g2"], [True, True]), "2026-11-23", pd.concat([monday, wednesday]))
    assert again["is_new"].all()


def test_history_falls_back_to_the_release_when_there_is_no_group():
    ranking = _ranking(["g1"], [True])
    ranking["release_group_id"] = None
    assert dated_recommendations(ranking, "2026-11-23", pd.DataFrame())["album_id"].tolist() == ["rel-g1"]
