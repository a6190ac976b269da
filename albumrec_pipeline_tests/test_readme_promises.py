"""Promises the README makes, each held by a test that does what the sentence says.

- Asset checks: the severity column of the checks table ("error, blocks" or "warning") is how
  each check is declared, and a failing blocking check stops the assets below it in its run.
- Live services: the MusicBrainz limit of one request a second is "shared by every process of a
  run", and "dropped connections" are retried.
- Automation: "`eager()` waits while any partition of an asset's own parents is missing, so a
  partition that never ingested ... holds back what reads it", and "a change that reaches the
  ranking another way ... re-ranks the catalog as it was last compacted".
- The catalog from the dumps: archives are "read as a stream ... a batch of rows at a time", so
  memory is bounded by a batch, not by the size of a member.
- Tests: the tests that read `../shared` skip without it, and fail instead under CI.
"""

from __future__ import annotations

import gc
import io
import json
import re
import socket
import subprocess
import sys
import tarfile
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import zstandard
from werkzeug import Request
from werkzeug.test import EnvironBuilder

from albumrec_pipeline.checks import ALL_CHECKS
from albumrec_pipeline.checks.dataset import (
    REQUIRED_COLUMNS,
    cleaned_dataset_artists_split_apart,
    cleaned_dataset_complete,
    raw_track_features_enough_to_learn,
)
from albumrec_pipeline.checks.liked_list import (
    liked_tracks_class_balance,
    liked_tracks_well_formed,
)
from albumrec_pipeline.checks.recommendations import (
    album_recommendations_respect_thresholds,
)
from albumrec_pipeline.core.albums import AlbumThresholds
from albumrec_pipeline.core.archives import (
    ArchiveStream,
    DumpReadCounts,
    dump_member_lines,
)
from albumrec_pipeline.core.documents import track_row_from_documents
from albumrec_pipeline.core.feature_dumps import (
    CSV_KINDS,
    IngestCounts,
    ingest_feature_archive,
)
from albumrec_pipeline.definitions import build_definitions
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.feature_sources import AUDIO_COLUMNS
from albumrec_pipeline.resources.source_selection import LIVE_PARTITION, SOURCE_ENV_VAR
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse
from albumrec_pipeline_tests.conftest import reference_material
from albumrec_pipeline_tests.factories import recording_id
from albumrec_pipeline_tests.fake_services import FakeServices, FakeWorld, serve
from albumrec_pipeline_tests.test_automation import Ticks

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
CONTACT = "tests@albumrec.invalid"


# --- asset checks: declared as the README's table says, and a failing blocking one stops what is below it ---


def readme_check_severities() -> dict[str, str]:
    """The README's table of asset checks: check name -> its severity column."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(index for index, line in enumerate(lines) if line.strip() == "| asset | check | severity |")
    severities = {}
    for line in lines[start + 2 :]:  # past the header and its rule
        if not line.strip().startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        severities[re.match(r"`(\w+)`", cells[1]).group(1)] = cells[2]
    return severities


BLOCKS = ("error, blocks the run", "error, blocks")


def test_every_check_is_declared_as_the_readme_table_says():
    listed = readme_check_severities()
    declared = {spec.name: spec for check in ALL_CHECKS for spec in check.check_specs}
    assert sorted(declared) == sorted(listed)
    assert set(listed.values()) == {*BLOCKS, "warning"}
    blocking = {name for name, severity in listed.items() if severity in BLOCKS}
    assert {name for name, spec in declared.items() if spec.blocking} == blocking
    assert blocking < set(CHECK_CASES)  # each is run failing below, as is one warning


def _list(labels: list[int], ids: list[str] | None = None) -> pd.DataFrame:
    ids = ids or [recording_id(index) for index in range(len(labels))]
    return pd.DataFrame({"mbid": ids, "liked": pd.Series(labels, dtype="int8")})


def _found(count: int) -> pd.DataFrame:
    """raw_track_features for the first `count` recordings: six artists on each side."""
    return pd.DataFrame(
        {
            "mbid": [recording_id(index) for index in range(count)],
            "artist": [f"{'liked' if index % 2 else 'disliked'} artist {index % 12}" for index in range(count)],
            "liked": [index % 2 for index in range(count)],
        }
    )


def _dataset(**overrides) -> pd.DataFrame:
    table = pd.DataFrame({column: [0.5, 0.6, 0.7, 0.8] for column in REQUIRED_COLUMNS})
    table["artist"] = ["a", "a", "b", "c"]
    table["split"] = ["train", "train", "validation", "test"]
    table["liked"] = [1, 0, 1, 0]
    return table.assign(**overrides)


def _ranking(tracks: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tracks": tracks,
            "tracks_with_features": tracks,
            "feature_coverage": [1.0] * len(tracks),
            "predicted_liked_tracks": tracks,
            "recommended": [True] * len(tracks),
        }
    )


THRESHOLDS = {name: getattr(AlbumThresholds(), name) for name in AlbumThresholds.__dataclass_fields__}

# Each check of the table, on the asset it guards (and what else it reads), with a table it passes
# and one it fails; the metadata is what the asset's materialization records.
CHECK_CASES = {
    "liked_tracks_well_formed": (
        liked_tracks_well_formed, "liked_tracks",
        {"liked_tracks": _list([1, 0])}, {"liked_tracks": _list([1, 0], [recording_id(0), "not-a-uuid"])}, {},
    ),
    "raw_track_features_enough_to_learn": (
        raw_track_features_enough_to_learn, "raw_track_features",
        {"liked_tracks": _list([index % 2 for index in range(60)]), "raw_track_features": _found(60)},
        {"liked_tracks": _list([index % 2 for index in range(60)]), "raw_track_features": _found(12)}, {},
    ),
    "cleaned_dataset_complete": (
        cleaned_dataset_complete, "cleaned_dataset",
        {"cleaned_dataset": _dataset()}, {"cleaned_dataset": _dataset(**{REQUIRED_COLUMNS[0]: [0.1, None, 0.3, 0.4]})}, {},
    ),
    "cleaned_dataset_artists_split_apart": (
        cleaned_dataset_artists_split_apart, "cleaned_dataset",
        {"cleaned_dataset": _dataset()}, {"cleaned_dataset": _dataset(split=["train", "test", "validation", "test"])}, {},
    ),
    "album_recommendations_respect_thresholds": (
        album_recommendations_respect_thresholds, "album_recommendations",
        {"album_recommendations": _ranking([10, 6])}, {"album_recommendations": _ranking([10, 3])}, THRESHOLDS,
    ),
    # A warning, for contrast: it fails without stopping anything.
    "liked_tracks_class_balance": (
        liked_tracks_class_balance, "liked_tracks",
        {"liked_tracks": _list([0, 1] * 5)}, {"liked_tracks": _list([1] * 19 + [0])}, {},
    ),
}  # fmt: skip


def _stand_in(key: str, table: pd.DataFrame, metadata: dict) -> dg.AssetsDefinition:
    @dg.asset(name=key)
    def stand_in() -> dg.Output:
        return dg.Output(table, metadata=metadata)

    return stand_in


def _run_with_check(tmp_path: Path, name: str, tables: dict[str, pd.DataFrame]) -> dg.ExecuteInProcessResult:
    """The real check on stand-ins of the assets it reads, with an asset below the one it guards."""
    check, guarded, *_, metadata = CHECK_CASES[name]

    @dg.asset(ins={"upstream": dg.AssetIn(guarded)})
    def below(upstream: pd.DataFrame) -> pd.DataFrame:
        return upstream.head(1)

    assets = [_stand_in(key, table, metadata if key == guarded else {}) for key, table in tables.items()]
    defs = dg.Definitions(
        assets=[*assets, below],
        asset_checks=[check],
        resources={"io_manager": ParquetWarehouse(base_path=str(tmp_path / "warehouse"))},
        jobs=[dg.define_asset_job("everything", selection=dg.AssetSelection.all())],
    )
    with dg.DagsterInstance.ephemeral() as instance:
        return defs.resolve_job_def("everything").execute_in_process(instance=instance, raise_on_error=False)


@pytest.mark.parametrize("name", list(CHECK_CASES))
@pytest.mark.parametrize("passes", [True, False], ids=["passing", "failing"])
def test_a_failing_error_check_stops_the_assets_below_it_and_a_warning_does_not(tmp_path, name, passes):
    _, guarded, good, bad, _ = CHECK_CASES[name]
    blocks = readme_check_severities()[name] in BLOCKS
    tables = good if passes else bad

    result = _run_with_check(tmp_path, name, tables)

    (evaluation,) = [evaluation for evaluation in result.get_asset_check_evaluations() if evaluation.check_name == name]
    assert evaluation.passed is passes
    expected_severity = dg.AssetCheckSeverity.ERROR if blocks else dg.AssetCheckSeverity.WARN
    if not passes:
        assert evaluation.severity == expected_severity
    materialized = {event.asset_key.to_user_string() for event in result.get_asset_materialization_events()}
    stopped = blocks and not passes
    assert guarded in materialized
    assert materialized == set(tables) | (set() if stopped else {"below"})
    assert result.success is not stopped


# --- live services: the MusicBrainz limit across processes, dropped connections retried ---

# One process of a run that asks MusicBrainz about its recordings, at MusicBrainz's own pace (the
# client's default, one request a second), once the test says go.
ASKING_PROCESS = """
import json, sys
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
settings, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
catalog = MusicBrainzApiCatalog(acousticbrainz=AcousticBrainzApiSource(state_dir=settings["state_dir"]), **settings)
print("ready", flush=True)
sys.stdin.readline()
catalog.recording_metadata(ids)
"""
PROCESSES = 3


def test_the_musicbrainz_rate_limit_holds_across_the_processes_of_a_run(tmp_path):
    world = FakeWorld()
    # One album a process: its own recordings, so no process finds another's answers in the shared cache.
    albums = [world.add_album(f"Album {index}", f"Band {index}", "1990", tracks=2) for index in range(PROCESSES)]
    # Like MusicBrainz itself: past one request a second the answer is 503.
    services = FakeServices(world, musicbrainz_interval=1.0)
    logs = [tmp_path / f"process-{index}.log" for index in range(PROCESSES)]
    with serve(services) as url:
        settings = {"base_url": url + "/ws/2", "state_dir": str(tmp_path / "http_state"), "contact": CONTACT,
                    "metadata_batch_size": 1}  # fmt: skip
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", ASKING_PROCESS, json.dumps(settings), json.dumps(world.track_ids(album))],
                cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
            )  # fmt: skip
            for album, log in zip(albums, logs, strict=True)
        ]
        try:
            for process, log in zip(processes, logs, strict=True):
                assert process.stdout.readline().strip() == "ready", log.read_text()
            # Every process is ready: they all start asking at once.
            for process in processes:
                process.stdin.write("go\n")
                process.stdin.flush()
            for process, log in zip(processes, logs, strict=True):
                assert process.wait(timeout=120) == 0, log.read_text()
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()

    asked = services.requests_to("/ws/2/")
    gaps = [later.at - earlier.at for earlier, later in zip(asked, asked[1:], strict=False)]
    # A second apart at the server, less the jitter of a request's way there (the server's own 503 rule).
    assert min(gaps) >= 0.95, gaps
    assert [request.status for request in asked] == [200] * 2 * PROCESSES  # the server never had to refuse one
    # One search a recording, each recording once: every process asked for its own, and only that.
    assert sorted(request.args["query"] for request in asked) == sorted(
        f"rid:({recording})" for album in albums for recording in world.track_ids(album)
    )


def _whole_answer(services: FakeServices, target: str) -> tuple[bytes, bytes]:
    """The fake service's answer to `GET target`, as an HTTP/1.1 head and body."""
    path, _, query = target.partition("?")
    response = services.handle(Request(EnvironBuilder(path=path, query_string=query).get_environ()))
    body = response.get_data()
    head = (
        f"HTTP/1.1 {response.status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head, body


@contextmanager
def dropping_server(services: FakeServices, cut: Callable[[bytes, bytes], bytes]) -> Iterator[tuple[str, list]]:
    """A bare HTTP server on 127.0.0.1 in a thread: the first connection gets `cut(head, body)` of
    its answer and is closed; every later one gets the whole answer. Yields the base URL and a log
    of (request target, whether its connection was dropped)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    log: list[tuple[str, bool]] = []
    stop = threading.Event()

    def serve_connections() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                request = b""
                while b"\r\n\r\n" not in request:
                    received = connection.recv(65536)
                    if not received:
                        break
                    request += received
                if not request:
                    continue
                target = request.split(b" ", 2)[1].decode()
                head, body = _whole_answer(services, target)
                drop = not log
                log.append((target, drop))
                connection.sendall(cut(head, body) if drop else head + body)

    thread = threading.Thread(target=serve_connections, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", log
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


CUTS = {
    "before the answer": lambda head, body: b"",
    "inside the status line": lambda head, body: head[:10],
    "inside the body": lambda head, body: head + body[: len(body) // 2],
}


@pytest.mark.parametrize("where", list(CUTS))
def test_a_dropped_connection_is_retried(tmp_path, where):
    world = FakeWorld()
    ids = world.track_ids(world.add_album("Dropped", "Band", "1990", tracks=3))
    with dropping_server(FakeServices(world), CUTS[where]) as (url, log):
        source = AcousticBrainzApiSource(
            base_url=url, state_dir=str(tmp_path), contact=CONTACT, timeout_seconds=5.0, max_attempts=3,
            backoff_seconds=0.02, max_backoff_seconds=0.1,
        )  # fmt: skip
        fetched = source.fetch_track_features(ids)
        source.close()

    expected = pd.DataFrame(
        [track_row_from_documents(r, world.recordings[r].lowlevel[0], world.recordings[r].highlevel[0]) for r in ids],
        columns=AUDIO_COLUMNS,
    )
    pd.testing.assert_frame_equal(fetched.rows, expected)
    # The low-level request was cut off, asked again unchanged and answered; then the high-level one.
    (first, dropped), (again, dropped_again), (high, _) = log
    assert first.startswith("/api/v1/low-level?") and dropped
    assert again == first and not dropped_again
    assert high.startswith("/api/v1/high-level?")


# --- automation: a catalog with a hole in it is not ranked ---

AUTOMATED = [
    "recording_features", "background_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler",
    "preference_model", "weight_reports", "candidate_albums", "candidate_track_features", "track_scores",
    "album_recommendations", "album_explanations", "album_playlist",
]  # fmt: skip
UNPARTITIONED = [*AUTOMATED, "liked_tracks", "model_evaluation"]
ACOUSTICBRAINZ_TABLES = ("acousticbrainz_lowlevel", "acousticbrainz_highlevel")
MUSICBRAINZ_TABLES = ("musicbrainz_releases", "musicbrainz_tracks")
ARCHIVES = ("acousticbrainz-lowlevel-json-20220623-0", "acousticbrainz-lowlevel-json-20220623-1")
THE_RANKING = {"recording_features", "candidate_track_features", "track_scores", "album_recommendations"}


@contextmanager
def catalog_ticks(tmp_path: Path, live: bool, monkeypatch) -> Iterator[Ticks]:
    """Two AcousticBrainz archives and a release archive (and the live search in live mode), every
    asset materialized once except the partitions the test leaves missing."""
    monkeypatch.setenv(SOURCE_ENV_VAR, "live" if live else "catalog")
    (tmp_path / "ab").mkdir()
    (tmp_path / "mb").mkdir()
    for archive in ARCHIVES:  # the partitions are the archives' names; the ticks never read them
        (tmp_path / "ab" / f"{archive}.tar.zst").write_bytes(b"")
    (tmp_path / "mb" / "release.tar.xz").write_bytes(b"")
    defs = build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        yield Ticks(defs, instance)


def test_an_archive_that_never_ingested_holds_the_ranking_back_until_it_is(tmp_path, monkeypatch):
    with catalog_ticks(tmp_path, live=False, monkeypatch=monkeypatch) as ticks:
        # The second AcousticBrainz archive failed: its partitions were never written.
        ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=ARCHIVES[0])
        ticks.materialized(*MUSICBRAINZ_TABLES, partition="release")
        ticks.materialized(*UNPARTITIONED)
        assert ticks.requested() == set()
        # The first archive ingested again: with every archive present this requests the ranking.
        ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=ARCHIVES[0])
        assert ticks.requested() == set()
        # The failed archive ingested at last.
        ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=ARCHIVES[1])
        assert THE_RANKING <= ticks.requested()
        assert ticks.requested() == set()


def test_the_live_search_before_its_first_run_holds_the_ranking_back(tmp_path, monkeypatch):
    with catalog_ticks(tmp_path, live=True, monkeypatch=monkeypatch) as ticks:
        for archive in ARCHIVES:
            ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=archive)
        ticks.materialized(*MUSICBRAINZ_TABLES, partition="release")
        ticks.materialized(*UNPARTITIONED)
        assert ticks.requested() == set()
        ticks.materialized(*MUSICBRAINZ_TABLES, partition="release")  # the release archive ingested again
        assert ticks.requested() == set()
        # The live search's two partitions, MusicBrainz first, as `albumrec materialize` runs them.
        ticks.materialized(*MUSICBRAINZ_TABLES, partition=LIVE_PARTITION)
        ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=LIVE_PARTITION)
        assert THE_RANKING | {"candidate_albums"} <= ticks.requested()


@pytest.mark.parametrize(
    "change", [("preference_model",), ("liked_tracks",), MUSICBRAINZ_TABLES], ids=["new model", "new list", "new releases"]
)
def test_a_change_beside_the_hole_reranks_the_catalog_as_last_compacted(tmp_path, monkeypatch, change):
    with catalog_ticks(tmp_path, live=False, monkeypatch=monkeypatch) as ticks:
        ticks.materialized(*ACOUSTICBRAINZ_TABLES, partition=ARCHIVES[0])
        ticks.materialized(*MUSICBRAINZ_TABLES, partition="release")
        ticks.materialized(*UNPARTITIONED)
        assert ticks.requested() == set()
        ticks.materialized(*change, partition="release" if change == MUSICBRAINZ_TABLES else None)
        requested = ticks.requested()
        # The missing archive still holds the compaction back; the ranking reads the table as it stands.
        assert "recording_features" not in requested
        assert {"track_scores", "album_recommendations"} <= requested


# --- archives: a large member is read a batch at a time ---


def _zst_tar(path: Path, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    with path.open("wb") as handle, zstandard.ZstdCompressor(level=1).stream_writer(handle) as packed:
        with tarfile.open(fileobj=packed, mode="w|") as tar:
            tar.addfile(info, io.BytesIO(data))


def _xz_tar(path: Path, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    with tarfile.open(path, "w:xz", preset=0) as tar:
        tar.addfile(info, io.BytesIO(data))


def _rhythm_csv(lines: int) -> bytes:
    """A CSV feature dump's rhythm file: a line per submission, with values that do not compress away."""
    values = np.random.default_rng(lines).random((lines, len(CSV_KINDS["rhythm"]) - 2)) * 200
    rows = (
        f"{index:08x}-0000-4000-8000-{index:012x},{index % 4}," + ",".join(f"{value:.6f}" for value in row)
        for index, row in enumerate(values)
    )
    return (",".join(CSV_KINDS["rhythm"]) + "\n" + "\n".join(rows) + "\n").encode()


def _release_lines(lines: int) -> bytes:
    """Lines as `mbdump/release` holds them: one JSON document each, a few hundred bytes long."""
    lengths = np.random.default_rng(lines).integers(50, 400, size=lines)
    return "".join(
        json.dumps({"id": f"{index:08x}-0000-4000-8000-{index:012x}", "title": "t" * int(length)}) + "\n"
        for index, length in enumerate(lengths)
    ).encode()


def _csv_rows(path: Path) -> int:
    rows = 0

    def emit(table: str, batch) -> None:
        nonlocal rows
        rows += batch.num_rows  # and let go, as the asset lets go of each batch once it is written

    ingest_feature_archive(ArchiveStream(path), emit, IngestCounts())
    return rows


def _release_member_lines(path: Path) -> int:
    return sum(1 for _ in dump_member_lines(ArchiveStream(path), "mbdump/release", DumpReadCounts(), "release.tar.xz"))


def _counted_with_peak(read: Callable[[Path], int], path: Path) -> tuple[int, int]:
    """What `read(path)` counted, and the most memory Python held at once while it ran (beyond what
    it held before)."""
    gc.collect()
    tracemalloc.start()
    try:
        counted = read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return counted, peak


LINES = 120_000
# The larger member is tens of megabytes larger; the reader's memory may not grow by more than this.
LEEWAY = 1_000_000


@pytest.mark.parametrize(
    ("read", "write", "suffix", "member", "make"),
    [
        (_csv_rows, _zst_tar, ".tar.zst", "acousticbrainz-lowlevel-features-20220623/rhythm.csv", _rhythm_csv),
        (_release_member_lines, _xz_tar, ".tar.xz", "mbdump/release", _release_lines),
    ],
    ids=["CSV feature dump, .tar.zst", "MusicBrainz release lines, .tar.xz"],
)
def test_a_large_member_is_read_in_memory_that_does_not_grow_with_it(tmp_path, read, write, suffix, member, make):
    sizes = {}
    for lines in (1_000, LINES, 3 * LINES):
        data = make(lines)
        write(tmp_path / f"{lines}{suffix}", member, data)
        sizes[lines] = len(data)
        del data
    assert sizes[3 * LINES] - sizes[LINES] > 20 * LEEWAY
    # What is imported or set up on first use is not the member's memory.
    assert read(tmp_path / f"1000{suffix}") == 1_000

    (large_count, large_peak), (larger_count, larger_peak) = (
        _counted_with_peak(read, tmp_path / f"{lines}{suffix}") for lines in (LINES, 3 * LINES)
    )

    assert (large_count, larger_count) == (LINES, 3 * LINES)
    assert larger_peak <= large_peak + LEEWAY, (large_peak, larger_peak)


# --- tests reading ../shared: skipped without it, failed without it under CI ---


def _outcome(call: Callable[[], object]) -> tuple[type, str] | None:
    """The skip or failure `call` ends in (caught here, so that it cannot end this test), or None."""
    try:
        call()
    except (pytest.skip.Exception, pytest.fail.Exception) as outcome:
        return type(outcome), str(outcome)
    return None


def test_reference_material_is_skipped_without_it_but_required_under_ci(tmp_path, monkeypatch):
    absent = tmp_path / "absent"
    missing = f"reference material not found at {absent}"
    monkeypatch.delenv("CI", raising=False)
    assert _outcome(lambda: reference_material(absent)) == (pytest.skip.Exception, missing)
    monkeypatch.setenv("CI", "true")
    assert _outcome(lambda: reference_material(absent)) == (
        pytest.fail.Exception, f"{missing}; under CI this test must run, not skip"
    )
    (tmp_path / "present" / "fixtures").mkdir(parents=True)
    assert reference_material(tmp_path / "present") == tmp_path / "present"
