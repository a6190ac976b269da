"""AcousticBrainz dump archives -> feature tables; which submission of a recording is used."""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pandas as pd
import pytest

from albumrec_pipeline.core.archives import ArchiveReadError, ArchiveStream, DumpFormatError
from albumrec_pipeline.core.catalog import (
    AUDIO_COLUMNS,
    compact_recording_features,
    compacted_lookup_sql,
    parquet_source,
    write_candidate_features,
)
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.feature_columns import COMPACT_LOWLEVEL_COLUMNS, HIGHLEVEL_COLUMNS
from albumrec_pipeline.core.feature_dumps import (
    HIGHLEVEL,
    LOWLEVEL,
    TABLE_SCHEMAS,
    IngestCounts,
    TableBatcher,
    csv_feature_batches,
    document_identity,
    ingest_feature_archive,
)
from albumrec_pipeline.demo.dump_writer import csv_dump_lines, write_tar_xz, write_tar_zst
from albumrec_pipeline_tests.catalog_files import ingest_feature_folder
from albumrec_pipeline_tests.factories import (
    highlevel_document,
    lowlevel_document,
    recording_id,
    write_checked_tar_zst,
)


def _path(kind: str, mbid: str, offset: int) -> str:
    return f"acousticbrainz-{kind}-json-20220623/{kind}/{mbid[0:2]}/{mbid[2]}/{mbid}-{offset}.json"


def test_document_paths() -> None:
    mbid = recording_id(3)
    assert document_identity(_path("lowlevel", mbid, 2)) == ("lowlevel", mbid, 2)
    # Older dumps nest the folders the other way round; the file name is what counts.
    assert document_identity(f"dump/highlevel/{mbid[0]}/{mbid[0:2]}/{mbid}-0.json") == ("highlevel", mbid, 0)
    assert document_identity("acousticbrainz-lowlevel-json-20220623/COPYING") is None
    assert document_identity(f"dump/lowlevel/xx/{mbid}.json") is None


def test_archive_members_go_to_their_table(tmp_path: Path) -> None:
    good, broken = recording_id(1), recording_id(2)
    missing_key = lowlevel_document()
    del missing_key["tonal"]["key_key"]
    members = [
        (_path("lowlevel", good, 0), orjson.dumps(lowlevel_document(shift=1.0))),
        (_path("highlevel", good, 0), orjson.dumps(highlevel_document(0.5))),
        (_path("lowlevel", broken, 0), orjson.dumps(missing_key)),
        (_path("highlevel", broken, 0), b"{not json"),
        ("acousticbrainz-lowlevel-json-20220623/COPYING", b"CC0"),
    ]
    archive = write_tar_zst(tmp_path / "mixed.tar.zst", members)
    batches: dict[str, list] = {LOWLEVEL: [], HIGHLEVEL: []}
    counts = ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: batches[kind].append(batch), IngestCounts())
    assert counts.documents == {LOWLEVEL: 1, HIGHLEVEL: 1}
    assert counts.unusable == 2 and counts.other_members == 1
    assert any("tonal.key_key is missing" in problem for problem in counts.problems)
    assert any("not valid JSON" in problem for problem in counts.problems)
    lowlevel = batches[LOWLEVEL][0].to_pandas()
    expected = track_row_from_documents(good, lowlevel_document(shift=1.0), highlevel_document(0.5))
    row = lowlevel.iloc[0]
    assert row["mbid"] == good and row["submission_offset"] == 0
    for column in ("bpm", "key_key", "mfcc_1", "duration", "artist"):
        assert row[column] == expected[column]
    assert batches[HIGHLEVEL][0].schema == TABLE_SCHEMAS[HIGHLEVEL]


def test_a_batch_keeps_the_lowest_offset_and_is_cut_between_recordings() -> None:
    batcher = TableBatcher(TABLE_SCHEMAS[HIGHLEVEL], batch_rows=2)
    rows = lambda mbid, offset: {"mbid": mbid, "submission_offset": offset}  # noqa: E731
    assert batcher.add(rows("a", 1)) is None
    assert batcher.add(rows("a", 0)) is None  # same recording, lower offset: replaces
    assert batcher.add(rows("b", 0)) is None
    assert batcher.add(rows("b", 3)) is None  # b's later submission joins b, the batch is not cut inside b
    full = batcher.add(rows("c", 0))
    assert full is not None and full.to_pydict()["submission_offset"] == [0, 0]
    assert batcher.duplicates_dropped == 2


def _chosen(files: dict[str, list[str]], require_highlevel: bool = True) -> pd.DataFrame:
    """The compacted table of the ingested `files`; with `require_highlevel`, its rows with both documents."""
    with tempfile.TemporaryDirectory() as folder:
        compacted = Path(folder, "recording_features.parquet")
        connection = duckdb.connect()
        try:
            compact_recording_features(connection, files["lowlevel"], files["highlevel"], compacted)
            chosen = connection.execute(f"SELECT * FROM {parquet_source([compacted.as_posix()])}").df()
        finally:
            connection.close()
    if require_highlevel:
        chosen = chosen[chosen[HIGHLEVEL_COLUMNS].notna().all(axis="columns")]
    return chosen.reset_index(drop=True)


def test_the_lowest_offset_wins_across_archives(tmp_path: Path) -> None:
    mbid = recording_id(7)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    # Offsets 2 and 0 in one archive, 1 in another; the high-level one only at offset 1.
    write_tar_zst(dumps / "a.tar.zst", [
        (_path("lowlevel", mbid, 2), orjson.dumps(lowlevel_document(shift=2.0))),
        (_path("lowlevel", mbid, 0), orjson.dumps(lowlevel_document(shift=0.0))),
    ])
    write_tar_zst(dumps / "b.tar.zst", [
        (_path("lowlevel", mbid, 1), orjson.dumps(lowlevel_document(shift=1.0))),
        (_path("highlevel", mbid, 1), orjson.dumps(highlevel_document(0.3))),
    ])
    # Batches of one row: nothing is resolved while ingesting, all of it when reading.
    files = ingest_feature_folder(dumps, tmp_path / "tables", batch_rows=1)
    chosen = _chosen(files)
    assert len(chosen) == 1
    expected = track_row_from_documents(mbid, lowlevel_document(shift=0.0), highlevel_document(0.3))
    row = chosen.iloc[0]
    assert list(chosen.columns) == AUDIO_COLUMNS
    for column in AUDIO_COLUMNS:
        assert row[column] == pytest.approx(expected[column]) if isinstance(expected[column], float) else row[column] == expected[column]


def test_a_submission_held_by_two_partitions_is_compacted_once(tmp_path: Path) -> None:
    """The live search can fetch a submission a dump archive also holds: the same row then sits in
    two partitions' files. The compacted table keeps one row per recording, the same as with one
    copy, for JSON rows and for CSV submissions alike."""
    json_only, csv_only = recording_id(11), recording_id(12)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_tar_zst(dumps / "json.tar.zst", [
        (_path("lowlevel", json_only, 1), orjson.dumps(lowlevel_document(shift=1.0))),
        (_path("lowlevel", json_only, 0), orjson.dumps(lowlevel_document(shift=0.0))),
        (_path("highlevel", json_only, 0), orjson.dumps(highlevel_document(0.4))),
    ])
    for kind in ("lowlevel", "rhythm", "tonal"):
        _csv_archive(dumps, kind, list(csv_dump_lines(kind, [(csv_only, 0, lowlevel_document(shift=2.0))])))
    once = ingest_feature_folder(dumps, tmp_path / "once", batch_rows=1)
    again = ingest_feature_folder(dumps, tmp_path / "again", batch_rows=1)
    twice = {kind: once[kind] + again[kind] for kind in once}

    single, doubled = _chosen(once, require_highlevel=False), _chosen(twice, require_highlevel=False)
    assert doubled["mbid"].tolist() == sorted([json_only, csv_only])
    pd.testing.assert_frame_equal(doubled, single)
    assert doubled.set_index("mbid").loc[json_only, "bpm"] == pytest.approx(
        track_row_from_documents(json_only, lowlevel_document(shift=0.0), highlevel_document(0.4))["bpm"]
    )


def test_the_compacted_table_chooses_once_over_archives_in_submission_order(tmp_path: Path) -> None:
    """Archives in submission order: each recording's submissions are in different archives, the
    earliest of them not always in the first. The compacted table has one row per recording, the
    one reading the raw tables chooses, sorted by id; lookups and candidates read it alone."""
    mbids = sorted(recording_id(n) for n in range(1, 7))
    # (archive, recording, offset, shift): later archives hold later submissions, of any recording.
    submissions = [
        (0, mbids[3], 0, 0.0), (0, mbids[0], 1, 9.0), (0, mbids[5], 0, 0.5),
        (1, mbids[0], 0, 0.25), (1, mbids[3], 1, 8.0), (1, mbids[1], 0, 0.75),
        (2, mbids[3], 2, 7.0), (2, mbids[5], 1, 6.0), (2, mbids[2], 0, 1.25),
    ]
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for archive in range(3):
        members = [
            (_path("lowlevel", mbid, offset), orjson.dumps(lowlevel_document(shift=shift)))
            for number, mbid, offset, shift in submissions if number == archive
        ]
        # High-level documents for some recordings only, in yet another order.
        if archive == 1:
            members += [(_path("highlevel", mbids[0], 3), orjson.dumps(highlevel_document(0.2))),
                        (_path("highlevel", mbids[3], 0), orjson.dumps(highlevel_document(0.7)))]
        write_tar_zst(dumps / f"acousticbrainz-lowlevel-json-20220623-{archive}.tar.zst", members)
    files = ingest_feature_folder(dumps, tmp_path / "tables", batch_rows=100)
    connection = duckdb.connect()
    try:
        compacted = tmp_path / "recording_features.parquet"
        rows = compact_recording_features(connection, files["lowlevel"], files["highlevel"], compacted)
        table = pd.read_parquet(compacted)
        source = parquet_source([compacted.as_posix()])
        wanted = pd.DataFrame({"recording_id": [mbids[0], mbids[2], mbids[4]]})
        connection.register("wanted", wanted)
        looked_up = connection.execute(compacted_lookup_sql(source, "SELECT recording_id FROM wanted", False)).df()
        with_highlevel = connection.execute(compacted_lookup_sql(source, "SELECT recording_id FROM wanted", True)).df()
        candidates = pd.DataFrame({
            "recording_id": [mbids[3], mbids[5], mbids[4]], "recording_year": [1999, 2001, 2003],
            "release_id": ["r1", "r1", "r1"], "medium_position": [1, 1, 1], "track_position": [1, 2, 3],
            "album_title": ["A", "A", "A"], "recording_title": ["x", "y", "z"],
        })
        connection.register("candidates", candidates)
        tags = f"SELECT * FROM (VALUES ('{mbids[3]}', 'rock=2')) AS t(recording_id, musicbrainz_tags)"
        # One part per recording, and all in one part: the same rows.
        in_parts, whole = tmp_path / "in_parts.parquet", tmp_path / "whole.parquet"
        written = write_candidate_features(connection, "candidates", source, in_parts, False, tags, part_recordings=1)
        write_candidate_features(connection, "candidates", source, whole, False, tags)
        candidate_rows = connection.execute(f"SELECT * FROM {parquet_source([in_parts.as_posix()])}").df()
        whole_rows = connection.execute(f"SELECT * FROM {parquet_source([whole.as_posix()])}").df()
        with_highlevel_only = tmp_path / "with_highlevel_only.parquet"
        write_candidate_features(connection, "candidates", source, with_highlevel_only, True, part_recordings=2)
        highlevel_rows = connection.execute(f"SELECT * FROM {parquet_source([with_highlevel_only.as_posix()])}").df()
    finally:
        connection.close()

    # Five recordings have low-level submissions (mbids[4] has none); one row each, by id.
    assert rows == 5 and table["mbid"].tolist() == sorted({mbid for _, mbid, _, _ in submissions})
    assert list(table.columns) == AUDIO_COLUMNS
    # The lowest offset, wherever it was: mbids[0]'s offset 0 is in the second archive.
    expected = {mbid: shift for _, mbid, offset, shift in submissions if offset == 0}
    bpm = {mbid: track_row_from_documents(mbid, lowlevel_document(shift=shift), highlevel_document(0.5))["bpm"]
           for mbid, shift in expected.items()}
    assert dict(zip(table["mbid"], table["bpm"])) == pytest.approx(bpm)
    assert table.set_index("mbid")[HIGHLEVEL_COLUMNS[0]].notna().to_dict() == {
        mbids[0]: True, mbids[1]: False, mbids[2]: False, mbids[3]: True, mbids[5]: False,
    }
    assert sorted(looked_up["mbid"]) == [mbids[0], mbids[2]] and with_highlevel["mbid"].tolist() == [mbids[0]]
    assert written == 2 and sorted(candidate_rows["mbid"]) == [mbids[3], mbids[5]]
    assert dict(zip(candidate_rows["mbid"], candidate_rows["release_year"])) == {mbids[3]: 1999.0, mbids[5]: 2001.0}
    assert dict(zip(candidate_rows["mbid"], candidate_rows["recording_title"])) == {mbids[3]: "x", mbids[5]: "y"}
    tagged = candidate_rows.set_index("mbid")["musicbrainz_tags"]
    assert tagged[mbids[3]] == "rock=2" and pd.isna(tagged[mbids[5]])
    pd.testing.assert_frame_equal(
        candidate_rows.sort_values("mbid").reset_index(drop=True), whole_rows.sort_values("mbid").reset_index(drop=True)
    )
    assert highlevel_rows["mbid"].tolist() == [mbids[3]] and "musicbrainz_tags" not in highlevel_rows.columns


def _csv_archive(folder: Path, kind: str, lines: list[str]) -> None:
    name = f"acousticbrainz-lowlevel-features-20220623-{kind}"
    text = "".join(lines).encode()
    write_tar_zst(folder / f"{name}.tar.zst", [(f"acousticbrainz-lowlevel-features-20220623/{name}.csv", text)])


def test_csv_dumps_give_compact_rows(tmp_path: Path) -> None:
    complete, gaps, json_too = recording_id(1), recording_id(2), recording_id(3)
    documents = [(complete, 0, lowlevel_document(key="D", scale="minor", shift=1.0)), (json_too, 0, lowlevel_document())]
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    for kind in ("lowlevel", "rhythm", "tonal"):
        lines = list(csv_dump_lines(kind, documents))
        # A submission whose tonal line has an unknown key and whose rhythm line has text for a number,
        # then a complete later submission of the same recording, a line with a bad id, a blank value.
        if kind == "tonal":
            lines += [f"{gaps},0,H,major,440.0,\r\n", f"{gaps},1,E,minor,,\r\n", "not-an-id,0,C,major,,\r\n"]
        elif kind == "rhythm":
            lines += [f"{gaps},0,fast,,,,,,\r\n", f"{gaps},1,97.5,,,,,0.9,\r\n"]
        else:
            lines += [f"{gaps},0,0.5,3.0,-600\r\n", f"{gaps},1,0.6,2.0,-610.5\r\n"]
        _csv_archive(dumps, kind, lines)
    write_tar_zst(dumps / "json.tar.zst", [(_path("lowlevel", json_too, 0), orjson.dumps(lowlevel_document()))])
    files = ingest_feature_folder(dumps, tmp_path / "tables")
    chosen = _chosen(files, require_highlevel=False).set_index("mbid")

    assert set(chosen.index) == {complete, gaps, json_too}
    row = chosen.loc[complete]
    assert (row["key_key"], row["key_scale"]) == ("D", "minor")
    assert row["bpm"] == 121.0 and row["mfcc_1"] == -684.0 and row["average_loudness"] == 0.8
    # Compact columns only: the rest of a CSV row stays empty.
    assert pd.isna(row["chords_key"]) and pd.isna(row["spectral_centroid"]) and pd.isna(row["danceable"])
    # Submission 0 of `gaps` lacks a usable key and bpm, so submission 1 is the lowest complete one.
    assert chosen.loc[gaps, "bpm"] == 97.5 and chosen.loc[gaps, "key_key"] == "E" and chosen.loc[gaps, "mfcc_1"] == -610.5
    # A JSON document, which has every low-level column, wins over CSV lines of the same recording.
    assert chosen.loc[json_too, "chords_key"] == "C"


def test_a_model_trains_on_the_compact_feature_set(tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from albumrec_pipeline.core.albums import score_feature_batches
    from albumrec_pipeline.core.dataset import encode_features
    from albumrec_pipeline.core.feature_columns import compact_encoded_feature_columns
    from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
    from albumrec_pipeline.core.training import TrainingSettings, train_preference_network
    from albumrec_pipeline.demo.dump_writer import write_csv_dumps
    from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world

    world = build_demo_world(DemoWorldSpec.small())
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    write_csv_dumps(dumps, world.lowlevel_documents, world.resubmissions["lowlevel"])
    chosen = _chosen(ingest_feature_folder(dumps, tmp_path / "tables"), require_highlevel=False)
    assert chosen[COMPACT_LOWLEVEL_COLUMNS].notna().all().all()
    assert chosen[HIGHLEVEL_COLUMNS].isna().all().all()

    truth = world.truth.set_index("recording_id")
    rows = chosen.assign(release_year=chosen["mbid"].map(truth["release_year"]).astype("float64"))
    labels = rows["mbid"].map(truth["liked"]).to_numpy()
    artists = rows["mbid"].map(truth["artist_id"])
    held_out = artists.isin(sorted(set(artists))[::4]).to_numpy()
    columns = compact_encoded_feature_columns()
    encoded = encode_features(rows)[columns]
    scaler = FittedScaler.fit(encoded[~held_out])
    settings = TrainingSettings(epochs=60, evaluate_every=5, early_stopping_patience=0, seed=0)
    outcome = train_preference_network(
        scaler.transform(encoded[~held_out]), labels[~held_out], scaler.transform(encoded[held_out]), labels[held_out], settings
    )
    model = TrainedPreferenceModel(outcome.network, columns, outcome.history)
    scored = pd.concat(score_feature_batches([rows], scaler, model))
    # Every compact row is scored by a compact model (and none by the full one, which lacks its columns).
    assert len(scored) == len(rows)
    held = scored.set_index("recording_id").loc[rows.loc[held_out, "mbid"], "like_probability"]
    auc = roc_auc_score(labels[held_out], held.to_numpy())
    assert np.isfinite(auc) and auc > 0.5


# --- bad members, damaged archives ---------------------------------------------------------------


def _ingest(archive: Path) -> tuple[dict[str, list[dict]], IngestCounts, ArchiveReadError | None]:
    """The rows handed out for each table, the counts, and the read error if the archive broke."""
    batches: dict[str, list] = {LOWLEVEL: [], HIGHLEVEL: []}
    counts, error = IngestCounts(), None
    try:
        ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: batches[kind].append(batch), counts)
    except ArchiveReadError as raised:
        error = raised
    return {kind: [row for batch in found for row in batch.to_pylist()] for kind, found in batches.items()}, counts, error


def _with(document: dict, path: tuple, value) -> dict:
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


def test_unusable_members_are_counted_named_and_skipped(tmp_path: Path) -> None:
    good, also_good = recording_id(1), recording_id(2)
    whole = orjson.dumps(lowlevel_document())
    broken = [
        (LOWLEVEL, whole[: len(whole) // 2], "is not valid JSON"),  # cut off
        (LOWLEVEL, b"", "is not valid JSON"),
        (HIGHLEVEL, b'{"highlevel": "\xe9t\xe9"}', "is not valid JSON"),  # Latin-1, not UTF-8
        (LOWLEVEL, whole + b"}", "is not valid JSON"),
        (LOWLEVEL, b"[1, 2]", "submission 0 is a list, not a JSON object"),
        (LOWLEVEL, b"null", "submission 0 is null, not a JSON object"),
        (LOWLEVEL, json.dumps(_with(lowlevel_document(), ("rhythm", "bpm"), float("nan"))).encode(), "is not valid JSON"),
        (LOWLEVEL, whole.replace(b'"bpm":120.0', b'"bpm":1e400'), "is not valid JSON"),
        (LOWLEVEL, orjson.dumps(_with(lowlevel_document(), ("metadata",), [])), "metadata is a list where an object"),
        (LOWLEVEL, orjson.dumps(_with(lowlevel_document(), ("lowlevel", "average_loudness"), True)), "is a boolean"),
        (LOWLEVEL, orjson.dumps(_with(lowlevel_document(), ("lowlevel", "mfcc", "mean"), [])), "lowlevel.mfcc.mean is not a list"),
        (LOWLEVEL, orjson.dumps(_with(lowlevel_document(), ("tonal", "key_key"), None)), "tonal.key_key is None"),
        (HIGHLEVEL, orjson.dumps(_with(highlevel_document(), ("metadata",), "tags")), "metadata is text, not an object"),
        (HIGHLEVEL, orjson.dumps(_with(highlevel_document(), ("highlevel", "mood_sad"), None)), "highlevel.mood_sad is null"),
        (HIGHLEVEL, orjson.dumps(_with(highlevel_document(), ("highlevel", "timbre", "probability"), "0.9")), "is text"),
    ]
    members = [(_path(LOWLEVEL, good, 0), orjson.dumps(lowlevel_document(shift=1.5)))]
    names = []
    for number, (kind, payload, _) in enumerate(broken, start=10):
        names.append((_path(kind, recording_id(number), 0), recording_id(number)))
        members.append((names[-1][0], payload))
    members += [
        (_path(HIGHLEVEL, good, 0), orjson.dumps(highlevel_document(0.25))),
        (_path(LOWLEVEL, also_good, 4), orjson.dumps(lowlevel_document(key="G#", scale="minor"))),
    ]
    tables, counts, error = _ingest(write_tar_zst(tmp_path / "mixed.tar.zst", members))

    assert error is None
    assert counts.unusable == len(broken) and counts.documents == {LOWLEVEL: 2, HIGHLEVEL: 1}
    for (member, mbid), (_, _, problem) in zip(names, broken, strict=True):
        assert any(member in found and mbid in found and problem in found for found in counts.problems), problem
    # The good documents' rows, exactly as the documents say.
    assert [(row["mbid"], row["submission_offset"]) for row in tables[LOWLEVEL]] == [(good, 0), (also_good, 4)]
    expected = track_row_from_documents(good, lowlevel_document(shift=1.5), highlevel_document(0.25))
    low, high = tables[LOWLEVEL][0], tables[HIGHLEVEL][0]
    assert {column: low[column] for column in expected if column in low} == {
        column: value for column, value in expected.items() if column in low
    }
    assert [high[column] for column in HIGHLEVEL_COLUMNS] == [expected[column] for column in HIGHLEVEL_COLUMNS]
    assert tables[LOWLEVEL][1]["key_key"] == "G#" and tables[LOWLEVEL][1]["key_scale"] == "minor"


@pytest.mark.parametrize(
    ("body", "finding"),
    [
        (b"{id},0,0.5,3.0,-600,7\n", "the CSV is damaged: CSV parse error: Expected 5 columns, got 6"),
        (b"{id},0,0.5\n", "the CSV is damaged: CSV parse error: Expected 5 columns, got 3"),
        (b'"{id},0,0.5,3.0,-600\n', "the CSV is damaged"),
        (b"{id},0,0.5,3.0,-6\xe900\n", "the CSV is damaged: In CSV column #4: CSV conversion error to string: invalid UTF8"),
    ],
)
def test_a_damaged_csv_dump_fails_its_archive_naming_the_member(tmp_path: Path, body: bytes, finding: str) -> None:
    header = ",".join(("mbid", "submission_offset", "average_loudness", "dynamic_complexity", "mfcc_zero_mean"))
    good = f"{recording_id(1)},0,0.5,3.0,-600\n".encode()
    name = "acousticbrainz-lowlevel-features-20220623/acousticbrainz-lowlevel-features-20220623-lowlevel.csv"
    text = header.encode() + b"\n" + good + body.replace(b"{id}", recording_id(2).encode())
    archive = write_tar_zst(tmp_path / "csv.tar.zst", [(name, text)])
    with pytest.raises(DumpFormatError) as raised:
        ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: None, IngestCounts())
    assert str(raised.value).startswith(f"{name}: ") and finding in str(raised.value)


def test_a_csv_dump_whose_header_is_not_utf8_is_named(tmp_path: Path) -> None:
    name = "dump/acousticbrainz-lowlevel-features-20220623-tonal.csv"
    archive = write_tar_zst(tmp_path / "csv.tar.zst", [(name, b"mbid,submission_offset,k\xe9y_key\n")])
    with pytest.raises(DumpFormatError, match=f"{name}: the CSV header is not UTF-8 text"):
        ingest_feature_archive(ArchiveStream(archive), lambda kind, batch: None, IngestCounts())


def test_a_csv_dump_cut_off_inside_keeps_the_rows_before(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    # Random ids and values: the archive must not compress into a single decompression step.
    mbids = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(12_000)]
    loudness = rng.random(len(mbids)).round(9)
    lines = [f"{mbid},0,{value},1.5,-600.25\n" for mbid, value in zip(mbids, loudness, strict=True)]
    header = "mbid,submission_offset,average_loudness,dynamic_complexity,mfcc_zero_mean\n"
    whole = write_tar_zst(tmp_path / "whole.tar.zst", [("dump/x-lowlevel.csv", (header + "".join(lines)).encode())])
    cut = tmp_path / "cut.tar.zst"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])

    read: list[dict] = []
    with pytest.raises(ArchiveReadError) as raised:
        for member in ArchiveStream(cut):
            for batch in csv_feature_batches(member.file, member.name, block_bytes=1 << 14):
                read += batch.to_pylist()
    assert 0 < len(read) < len(mbids)
    assert [row["mbid"] for row in read] == mbids[: len(read)]
    assert [row["average_loudness"] for row in read] == loudness[: len(read)].tolist()
    assert str(cut) in str(raised.value) and raised.value.uncompressed_offset > 0


@pytest.mark.parametrize("suffix", [".tar.xz", ".tar.zst"])
def test_a_corrupt_archive_lets_no_altered_document_in(tmp_path: Path, suffix: str) -> None:
    documents = {recording_id(number): lowlevel_document(shift=number * 0.37) for number in range(300)}
    members = [(_path(LOWLEVEL, mbid, 0), orjson.dumps(document)) for mbid, document in documents.items()]
    # The zstd tool writes a content checksum, and so do the real dumps; xz checks every block.
    whole = (write_tar_xz if suffix == ".tar.xz" else write_checked_tar_zst)(tmp_path / f"whole{suffix}", members)
    data = bytearray(whole.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(byte ^ 0xFF for byte in data[middle : middle + 16])
    corrupt = tmp_path / f"corrupt{suffix}"
    corrupt.write_bytes(bytes(data))

    tables, counts, error = _ingest(corrupt)
    assert error is not None and str(corrupt) in str(error) and "truncated or corrupt" in str(error)
    assert counts.unusable == 0 and len(tables[LOWLEVEL]) < len(documents)
    for row in tables[LOWLEVEL]:
        expected = track_row_from_documents(row["mbid"], documents[row["mbid"]], highlevel_document())
        assert all(row[column] == expected[column] for column in ("bpm", "mfcc_1", "dynamic_complexity", "spectral_centroid"))
