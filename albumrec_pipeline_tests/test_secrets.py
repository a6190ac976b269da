"""The contact address goes to the web services in the User-Agent, and nowhere else.

`raw_track_features` runs against MusicBrainz and AcousticBrainz stand-ins on 127.0.0.1 with
`ALBUMREC_CONTACT` set to an address made up for the test. The runs meet faults on the way: a
truncated JSON answer and a 503 (retried, and noted in the logs), and in a second run a 400
whose error page repeats the request's headers back, as some proxies' debug pages do, which
ends the run with an error. Then the address is looked for everywhere the runs left anything:
the Dagster event log and run records, the console, the warehouse, the HTTP cache and
checkpoint folder, and the Dagster storage folder, inside SQLite databases and compressed
values too.
"""

import json
import sqlite3
import uuid
import zlib
from pathlib import Path

import dagster as dg
from werkzeug import Request, Response

from albumrec_pipeline.assets.ingest import liked_tracks, raw_track_features
from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.http_client import CONTACT_ENV_VAR, albumrec_version
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
from albumrec_pipeline.resources.source_selection import source_resources
from albumrec_pipeline.storage.parquet_io_manager import ParquetWarehouse
from albumrec_pipeline_tests.fake_services import FakeServices, FakeWorld, LoggedRequest, serve

FAST_CLIENT = {
    "requests_per_window": 1000,
    "window_seconds": 1.0,
    "timeout_seconds": 5.0,
    "max_attempts": 3,
    "backoff_seconds": 0.01,
    "max_backoff_seconds": 0.05,
}
# Loggers whose records Dagster copies into the event log, so that what albumrec's HTTP client
# and the libraries under it log is searched as well.
CAPTURED_LOGGERS = ["albumrec", "urllib3", "requests_cache"]


class HeaderEchoingServices(FakeServices):
    """The stand-ins, plus an error page that repeats the request's User-Agent back, on request."""

    echo_path: str | None = None

    def handle(self, request: Request) -> Response:
        if self.echo_path is None or self.echo_path not in request.path:
            return super().handle(request)
        self.echo_path = None
        identity = request.headers.get("User-Agent", "")
        with self._lock:
            self.log.append(LoggedRequest(0.0, request.path, dict(request.args), identity, 400))
        return Response(json.dumps({"error": f"bad request from {identity}"}), status=400, content_type="application/json")


def texts_in_sqlite(path: Path) -> list[str]:
    """Every value in every table of a SQLite database, compressed values decompressed."""
    texts = []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in connection.execute(f'SELECT * FROM "{table}"'):
                for value in row:
                    if isinstance(value, bytes):
                        texts.append(value.decode("utf-8", "replace"))
                        try:
                            texts.append(zlib.decompress(value).decode("utf-8", "replace"))
                        except zlib.error:
                            pass
                    elif value is not None:
                        texts.append(str(value))
    finally:
        connection.close()
    return texts


def files_holding(marker: str, root: Path) -> list[str]:
    """Files under `root` whose bytes, or (for SQLite databases) whose values, hold `marker`."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if marker.encode() in data or marker.encode("utf-16-le") in data:
            found.append(str(path))
        elif data.startswith(b"SQLite format 3") and any(marker in text for text in texts_in_sqlite(path)):
            found.append(f"{path} (in a value)")
    return found


def test_the_search_finds_the_marker_where_it_is_hidden(tmp_path):
    # The search below must be able to fail: a compressed value in a SQLite database is found.
    marker = f"{uuid.uuid4().hex}@example.invalid"
    connection = sqlite3.connect(tmp_path / "hidden.sqlite")
    connection.execute("CREATE TABLE t (payload BLOB)")
    connection.execute("INSERT INTO t VALUES (?)", (zlib.compress(f"contact: {marker}".encode()),))
    connection.commit()
    connection.close()
    assert marker.encode() not in (tmp_path / "hidden.sqlite").read_bytes()
    assert files_holding(marker, tmp_path) == [f"{tmp_path / 'hidden.sqlite'} (in a value)"]


def test_the_live_sources_take_the_contact_from_the_environment_by_name(monkeypatch, tmp_path):
    monkeypatch.setenv(CONTACT_ENV_VAR, "someone@example.invalid")
    resources = source_resources("live", str(tmp_path))
    for resource in (resources["track_features"], resources["release_catalog"]):
        # An EnvVar: run configuration and the UI show the variable's name, never its value.
        assert isinstance(resource.contact, dg.EnvVar) and resource.contact.env_var_name == CONTACT_ENV_VAR


def test_the_contact_reaches_the_services_and_nothing_else(monkeypatch, tmp_path, capfd):
    marker = f"albumrec-contact-{uuid.uuid4().hex}@example.invalid"
    monkeypatch.setenv(CONTACT_ENV_VAR, marker)
    world = FakeWorld()
    liked = world.track_ids(world.add_album("Liked", "Band", "1987-06-01", tracks=8, with_features=7))
    disliked = world.track_ids(world.add_album("Disliked", "Other Band", "2004-02-02", tracks=6))
    later = world.track_ids(world.add_album("Later", "Third Band", "2011-03-03", tracks=4))
    first_list, second_list = tmp_path / "liked.csv", tmp_path / "liked_more.csv"
    first_list.write_text("mbid,liked\n" + "".join(f"{r},{int(r in liked)}\n" for r in liked + disliked))
    second_list.write_text(first_list.read_text() + "".join(f"{r},1\n" for r in later))
    warehouse, state, dagster_home = tmp_path / "warehouse", tmp_path / "http_state", tmp_path / "dagster_home"
    dagster_home.mkdir()
    acousticbrainz_server, musicbrainz_server = HeaderEchoingServices(world), HeaderEchoingServices(world)

    with (
        serve(acousticbrainz_server) as acousticbrainz_url,
        serve(musicbrainz_server) as musicbrainz_url,
        dg.instance_for_test(
            temp_dir=str(dagster_home),
            overrides={"python_logs": {"managed_python_loggers": CAPTURED_LOGGERS, "python_log_level": "DEBUG"}},
        ) as instance,
    ):
        # As source_resources("live") builds them (the contact by name), with the state in tmp_path.
        acousticbrainz = AcousticBrainzApiSource(
            base_url=acousticbrainz_url, state_dir=str(state), contact=dg.EnvVar(CONTACT_ENV_VAR), **FAST_CLIENT
        )
        catalog = MusicBrainzApiCatalog(
            acousticbrainz=acousticbrainz, base_url=musicbrainz_url + "/ws/2", state_dir=str(state),
            contact=dg.EnvVar(CONTACT_ENV_VAR), **FAST_CLIENT,
        )
        resources = {
            "track_features": acousticbrainz,
            "release_catalog": catalog,
            "io_manager": ParquetWarehouse(base_path=str(warehouse)),
        }

        def run(csv: Path) -> dg.ExecuteInProcessResult:
            config = {"csv_path": str(csv), "feedback_csv_path": str(tmp_path / "no_feedback.csv")}
            return dg.materialize(
                [liked_tracks, raw_track_features],
                resources=resources,
                run_config=dg.RunConfig({"liked_tracks": {"config": config}}),
                instance=instance,
                raise_on_error=False,
            )

        acousticbrainz_server.inject("/api/v1/low-level", "truncate")
        musicbrainz_server.inject("/ws/2/recording", "status", status=503)
        first = run(first_list)
        musicbrainz_server.echo_path = "/ws/2/recording"
        second = run(second_list)

        records = [record for result in (first, second) for record in instance.all_logs(result.run_id)]
        stored_runs = [instance.get_run_by_id(result.run_id) for result in (first, second)]
        snapshots = [instance.get_job_snapshot(stored.job_snapshot_id) for stored in stored_runs]

    # The runs went as planned: the faults were met, and the second run ended in the 400.
    assert first.success and not second.success
    failure = second.get_step_failure_events()[0].step_failure_data.error.to_string()
    assert "MusicBrainz GET /ws/2/recording" in failure and "answered 400" in failure
    # The error page did repeat the User-Agent; the message keeps the rest of it, not the address.
    assert f"bad request from albumrec/{albumrec_version()} ( <contact> )" in failure
    logged = [record.user_message for record in records]
    assert any("not complete JSON" in message and "trying again" in message for message in logged)
    assert any("answered 503" in message for message in logged)

    # The services saw the contact in every request, the error page included: the test is live.
    requests = acousticbrainz_server.log + musicbrainz_server.log
    assert {request.status for request in requests} >= {200, 400, 503}
    assert {request.user_agent for request in requests} == {f"albumrec/{albumrec_version()} ( {marker} )"}

    # ... and the address is nowhere else.
    console = capfd.readouterr()
    leaks = {
        "event log": [record.user_message or record.dagster_event_type for record in records if marker in dg.serialize_value(record)],
        "run records and snapshots": [type(item).__name__ for item in stored_runs + snapshots if marker in dg.serialize_value(item)],
        "files": files_holding(marker, tmp_path),
        "console": [name for name, text in (("stdout", console.out), ("stderr", console.err)) if marker in text],
    }
    assert leaks == {"event log": [], "run records and snapshots": [], "files": [], "console": []}


def test_a_launchpad_path_never_puts_a_secret_into_the_ui(monkeypatch, tmp_path, capfd):
    """Paths typed into the Launchpad: the process environment and files whose first line is a secret.

    Each run of liked_tracks fails; no secret reaches the event log, the run records, the console
    or any file the runs left (the warehouse and the Dagster storage included).
    """
    marker = f"Sk{uuid.uuid4().hex}"
    monkeypatch.setenv("ALBUMREC_TEST_DATABASE_PASSWORD", marker)
    lists = tmp_path / "lists"
    lists.mkdir()
    secret_files = {
        "dotenv.csv": f"DATABASE_PASSWORD={marker}\nOTHER=1\n",
        "passwd.csv": f"root:x:0:0:{marker}:/root:/bin/bash\n",
        "semicolons.csv": f"TOKEN={marker};REGION=eu\n",
        "commas.csv": f"password,{marker}\n{recording_id_like()},1\n",
    }
    for name, text in secret_files.items():
        (lists / name).write_text(text)
    (lists / "environment.csv").symlink_to("/proc/self/environ")
    paths = ["/proc/self/environ", str(lists / "environment.csv"), *(str(lists / name) for name in secret_files)]
    warehouse, dagster_home = tmp_path / "warehouse", tmp_path / "dagster_home"
    dagster_home.mkdir()
    with dg.instance_for_test(temp_dir=str(dagster_home)) as instance:
        results = [
            dg.materialize(
                [liked_tracks],
                resources={"io_manager": ParquetWarehouse(base_path=str(warehouse))},
                run_config=dg.RunConfig(
                    {"liked_tracks": {"config": {"csv_path": path, "feedback_csv_path": str(tmp_path / "none.csv")}}}
                ),
                instance=instance,
                raise_on_error=False,
            )
            for path in paths
        ]
        records = [record for result in results for record in instance.all_logs(result.run_id)]
        stored_runs = [instance.get_run_by_id(result.run_id) for result in results]
    failures = [result.get_step_failure_events()[0].step_failure_data.error.to_string() for result in results]

    # Every run failed for the reason it should, so the search below looks at real failures.
    assert all(not result.success for result in results)
    assert all("is a system file" in failure for failure in failures[:2])
    assert all(
        "not a CSV header" in failure or "looks separated by semicolons" in failure or "missing column" in failure
        for failure in failures[2:]
    )
    console = capfd.readouterr()
    lowered = marker.lower()
    leaks = {
        "event log": [record.dagster_event_type for record in records if lowered in dg.serialize_value(record).lower()],
        "run records": [run.run_id for run in stored_runs if lowered in dg.serialize_value(run).lower()],
        "files": files_holding(marker, tmp_path / "dagster_home") + files_holding(lowered, tmp_path / "dagster_home"),
        "warehouse": files_holding(marker, tmp_path) and [
            path for path in files_holding(marker, tmp_path) if not path.startswith(str(lists))
        ],
        "console": [name for name, text in (("stdout", console.out), ("stderr", console.err)) if lowered in text.lower()],
    }
    assert leaks == {"event log": [], "run records": [], "files": [], "warehouse": [], "console": []}


def recording_id_like() -> str:
    return str(uuid.UUID(int=7))
