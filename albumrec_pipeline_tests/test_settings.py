"""The `ALBUMREC_*` settings: checked once, on import, with errors that name the variable.

Settings are read when albumrec is imported, so what a bad value does to the code location and to
`albumrec` is seen in fresh interpreters; the checks themselves are plain functions of a mapping.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from albumrec_pipeline import settings
from albumrec_pipeline.resources.http_client import CONTACT_ENV_VAR
from albumrec_pipeline.resources.source_selection import source_resources
from albumrec_pipeline.settings import SettingsError

ALBUMREC = Path(sys.executable).with_name("albumrec")


def _run(command: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "ALBUMREC_DATA_DIR": str(tmp_path / "data"), **variables}
    return subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=300)


# (variable, value, part of what the message says is allowed)
BAD_SETTINGS = [
    ("ALBUMREC_ALBUM_SEARCH_CRON", "not a cron", "five fields"),
    ("ALBUMREC_ALBUM_SEARCH_CRON", "0 6 31 2 *", "never fires"),
    ("ALBUMREC_TIMEZONE", "Mars/Olympus", "IANA name"),
    ("ALBUMREC_SOURCE", "bogus", "catalog, demo, dump, live"),
]
MORE_BAD_SETTINGS = [
    ("ALBUMREC_MAX_INPUT_MB", "0", "positive number"),
    ("ALBUMREC_MUSICBRAINZ_URL", "ftp://mirror.example.org/ws/2", "http(s) URL"),
]


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_SETTINGS)
def test_a_bad_setting_stops_the_code_location_naming_the_variable(tmp_path, variable, value, allowed):
    done = _run([sys.executable, "-c", "import albumrec_pipeline.definitions"], tmp_path, **{variable: value})
    assert done.returncode != 0
    last_line = done.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"albumrec_pipeline.settings_error.SettingsError: {variable}={value!r} ")
    assert allowed in last_line


@pytest.mark.parametrize(("variable", "value", "allowed"), BAD_SETTINGS + MORE_BAD_SETTINGS)
def test_albumrec_reports_a_bad_setting_in_one_line(tmp_path, variable, value, allowed):
    done = _run([str(ALBUMREC), "materialize"], tmp_path, **{variable: value})
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"albumrec: {variable}={value!r} ") and allowed in line
    assert not (tmp_path / "data").exists()  # stopped before doing anything


def test_python_m_cli_reports_a_bad_setting_in_one_line(tmp_path):
    done = _run([sys.executable, "-m", "albumrec_pipeline.cli", "top"], tmp_path, ALBUMREC_TIMEZONE="Mars/Olympus")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("albumrec: ALBUMREC_TIMEZONE='Mars/Olympus' is not a time zone; ")


PRINT_SETTINGS = """
import json
from albumrec_pipeline import settings as s
names = ["DATA_DIR", "WAREHOUSE_DIR", "ACOUSTICBRAINZ_DUMPS_DIR", "MUSICBRAINZ_DUMPS_DIR", "SCRATCH_DIR",
         "LIKED_TRACKS_CSV", "FEEDBACK_CSV", "INPUT_DIRS", "MAX_INPUT_BYTES", "ALBUM_SEARCH_CRON", "TIMEZONE",
         "SOURCE", "MUSICBRAINZ_URL", "ACOUSTICBRAINZ_URL"]
print(json.dumps({name: getattr(s, name) for name in names}, default=str))
"""


def test_empty_variables_mean_unset(tmp_path):
    """`ALBUMREC_DATA_DIR=` used to put the data in the current folder."""
    empty = {
        name: ""
        for name in (
            "ALBUMREC_DATA_DIR", "ALBUMREC_ACOUSTICBRAINZ_DUMPS", "ALBUMREC_MUSICBRAINZ_DUMPS", "ALBUMREC_SCRATCH_DIR",
            "ALBUMREC_LIKED_TRACKS", "ALBUMREC_FEEDBACK", "ALBUMREC_INPUT_DIRS", "ALBUMREC_MAX_INPUT_MB",
            "ALBUMREC_ALBUM_SEARCH_CRON", "ALBUMREC_TIMEZONE", "ALBUMREC_SOURCE", "ALBUMREC_CONTACT",
            "ALBUMREC_MUSICBRAINZ_URL", "ALBUMREC_ACOUSTICBRAINZ_URL",
        )
    }
    done = _run([sys.executable, "-c", PRINT_SETTINGS], tmp_path, **empty)
    assert done.returncode == 0, done.stderr
    data = settings.REPO_ROOT / "data"
    assert json.loads(done.stdout) == {
        "DATA_DIR": str(data),
        "WAREHOUSE_DIR": str(data / "warehouse"),
        "ACOUSTICBRAINZ_DUMPS_DIR": str(data / "demo" / "acousticbrainz"),
        "MUSICBRAINZ_DUMPS_DIR": str(data / "demo" / "musicbrainz"),
        "SCRATCH_DIR": str(data / "scratch"),
        "LIKED_TRACKS_CSV": str(data / "demo" / "liked_tracks.csv"),
        "FEEDBACK_CSV": str(data / "feedback.csv"),
        "INPUT_DIRS": [],
        "MAX_INPUT_BYTES": 64_000_000,
        "ALBUM_SEARCH_CRON": "0 6 * * *",
        "TIMEZONE": "UTC",
        "SOURCE": "catalog",
        "MUSICBRAINZ_URL": None,
        "ACOUSTICBRAINZ_URL": None,
    }


# The checks one by one, on a mapping instead of the environment.
@pytest.mark.parametrize(
    ("read", "variable", "value"),
    [
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "not a cron"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "0 6 31 2 *"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "0 6 31 4 *"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "0 6 * * * *"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "61 6 * * *"),
        (settings.read_timezone, "ALBUMREC_TIMEZONE", "Mars/Olympus"),
        (settings.read_timezone, "ALBUMREC_TIMEZONE", "America"),
        (settings.read_timezone, "ALBUMREC_TIMEZONE", "../etc/passwd"),
        (settings.read_source, "ALBUMREC_SOURCE", "bogus"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "0"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "-5"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "lots"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "nan"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "inf"),
        (lambda environ: settings.read_service_url("ALBUMREC_MUSICBRAINZ_URL", environ), "ALBUMREC_MUSICBRAINZ_URL", "musicbrainz.org"),
        (lambda environ: settings.read_service_url("ALBUMREC_ACOUSTICBRAINZ_URL", environ), "ALBUMREC_ACOUSTICBRAINZ_URL", "file:///srv/ab"),
        (lambda environ: settings.read_service_url("ALBUMREC_ACOUSTICBRAINZ_URL", environ), "ALBUMREC_ACOUSTICBRAINZ_URL", "http://host:port"),
    ],
)
def test_each_check_refuses_naming_variable_value_and_what_is_allowed(read, variable, value):
    with pytest.raises(SettingsError) as raised:
        read({variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}={value!r} ") and "; give " in message and "\n" not in message
    assert (raised.value.variable, raised.value.value) == (variable, value)


@pytest.mark.parametrize(
    ("read", "variable", "value", "expected"),
    [
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", " 30 7 * * 1 ", "30 7 * * 1"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "0 6 29 2 *", "0 6 29 2 *"),
        (settings.read_album_search_cron, "ALBUMREC_ALBUM_SEARCH_CRON", "@weekly", "@weekly"),
        (settings.read_timezone, "ALBUMREC_TIMEZONE", "Asia/Kathmandu", "Asia/Kathmandu"),
        (settings.read_source, "ALBUMREC_SOURCE", "LIVE", "live"),
        (settings.read_max_input_bytes, "ALBUMREC_MAX_INPUT_MB", "0.5", 500_000),
        (lambda environ: settings.read_service_url("ALBUMREC_MUSICBRAINZ_URL", environ), "ALBUMREC_MUSICBRAINZ_URL",
         " http://localhost:5000/ws/2 ", "http://localhost:5000/ws/2"),
    ],
)
def test_each_check_takes_good_values(read, variable, value, expected):
    assert read({variable: value}) == expected


def test_paths_of_the_wrong_kind_are_refused(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    with pytest.raises(SettingsError, match=r"^ALBUMREC_SCRATCH_DIR='.*file.txt' names a file"):
        settings.read_location("ALBUMREC_SCRATCH_DIR", tmp_path, environ={"ALBUMREC_SCRATCH_DIR": str(a_file)})
    with pytest.raises(SettingsError, match=r"^ALBUMREC_FEEDBACK='.*' names a folder"):
        settings.read_location("ALBUMREC_FEEDBACK", a_file, folder=False, environ={"ALBUMREC_FEEDBACK": str(tmp_path)})
    with pytest.raises(SettingsError, match=r"^ALBUMREC_INPUT_DIRS="):
        settings.read_input_dirs({"ALBUMREC_INPUT_DIRS": f"{tmp_path}{os.pathsep}{a_file}"})
    assert settings.read_input_dirs({"ALBUMREC_INPUT_DIRS": f"{tmp_path}{os.pathsep} {os.pathsep}"}) == (tmp_path.resolve(),)


def test_the_live_sources_take_checked_settings(monkeypatch):
    monkeypatch.setenv(CONTACT_ENV_VAR, "  ")
    monkeypatch.setenv("ALBUMREC_MUSICBRAINZ_URL", " http://localhost:5000/ws/2 ")
    monkeypatch.setenv("ALBUMREC_ACOUSTICBRAINZ_URL", "")
    resources = source_resources("live")
    # A blank contact is no contact: the first MusicBrainz call then names the variable to set.
    assert resources["release_catalog"].contact == "" and not isinstance(resources["release_catalog"].contact, dg.EnvVar)
    assert resources["release_catalog"].base_url == "http://localhost:5000/ws/2"
    assert resources["track_features"].base_url == "https://acousticbrainz.org"
    monkeypatch.setenv("ALBUMREC_ACOUSTICBRAINZ_URL", "acousticbrainz.org")
    with pytest.raises(SettingsError, match="ALBUMREC_ACOUSTICBRAINZ_URL='acousticbrainz.org'"):
        source_resources("live")
