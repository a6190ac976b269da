"""Every `ALBUMREC_*` setting, read from the environment and checked here, on import.

An empty variable means the same as an unset one. A value albumrec cannot use stops the import
with a `SettingsError` naming the variable, its value and what it may be, so a code location
with a bad setting fails to load with that message (rather than with some later error that names
neither), and `albumrec` prints it as one line. The `read_*` functions are the checks and the
constants are what they found on import; whatever reads a setting again later (the source kind,
when the definitions are built) goes through the same function. The exception is
`ALBUMREC_CONTACT`: its value is read at run time through `dg.EnvVar`, so that it never shows in
the Dagster UI; albumrec only asks whether it is set (`setting`).

Default locations: `ALBUMREC_DATA_DIR` moves them all; each one can still be set on its own.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from albumrec_pipeline.settings_error import SettingsError



def setting(variable: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value without surrounding blanks; None when it is unset or empty."""
    value = (os.environ if environ is None else environ).get(variable, "").strip()
    return value or None


def _path(variable: str, value: str, folder: bool) -> Path:
    try:
        path = Path(value).expanduser().resolve()
        # A file where a folder belongs (or the reverse) would otherwise fail at the first run, far from here.
        wrong_kind = (path.exists() and not path.is_dir()) if folder else path.is_dir()
    except (OSError, RuntimeError, ValueError) as error:  # ~nosuchuser, a folder that cannot be looked into
        raise SettingsError(variable, value, f"is not a usable path ({error})", "give a path albumrec can reach") from error
    if wrong_kind and folder:
        raise SettingsError(variable, value, "names a file", "give a folder (or a path where one can be made)")
    if wrong_kind:
        raise SettingsError(variable, value, "names a folder", "give a file's path")
    return path


def read_location(variable: str, default: Path, folder: bool = True, environ: Mapping[str, str] | None = None) -> Path:
    value = setting(variable, environ)
    return _path(variable, value, folder) if value else default


REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_ENV_VAR = "ALBUMREC_DATA_DIR"
DATA_DIR = read_location(DATA_DIR_ENV_VAR, REPO_ROOT / "data")
DEMO_WORLD_DIR = DATA_DIR / "demo"
WAREHOUSE_DIR = DATA_DIR / "warehouse"

# Folders of dump archives; each archive in them is one partition of the ingest assets.
# By default the demo world's, which is written in the dumps' formats.
ACOUSTICBRAINZ_DUMPS_ENV_VAR = "ALBUMREC_ACOUSTICBRAINZ_DUMPS"
MUSICBRAINZ_DUMPS_ENV_VAR = "ALBUMREC_MUSICBRAINZ_DUMPS"
ACOUSTICBRAINZ_DUMPS_DIR = read_location(ACOUSTICBRAINZ_DUMPS_ENV_VAR, DEMO_WORLD_DIR / "acousticbrainz")
MUSICBRAINZ_DUMPS_DIR = read_location(MUSICBRAINZ_DUMPS_ENV_VAR, DEMO_WORLD_DIR / "musicbrainz")

# Local space for tables being written and for DuckDB's spill files. Next to the warehouse by
# default, so that a finished table moves into a local warehouse by a rename, not a copy.
SCRATCH_DIR = read_location("ALBUMREC_SCRATCH_DIR", DATA_DIR / "scratch")

# The listener's list, and the feedback file where recommended albums and tracks get marked
# liked or disliked. The liked-list sensor watches both (by content) and the liked_tracks asset
# reads both; a missing feedback file means no feedback yet.
LIKED_TRACKS_ENV_VAR = "ALBUMREC_LIKED_TRACKS"
FEEDBACK_ENV_VAR = "ALBUMREC_FEEDBACK"


def read_liked_list_paths(environ: Mapping[str, str] | None = None) -> tuple[Path, Path]:
    """The list and the feedback file the variables name now (the sensor reads them when the code
    location is built, so that a changed variable is followed after a reload)."""
    return (
        read_location(LIKED_TRACKS_ENV_VAR, DEMO_WORLD_DIR / "liked_tracks.csv", folder=False, environ=environ),
        read_location(FEEDBACK_ENV_VAR, DATA_DIR / "feedback.csv", folder=False, environ=environ),
    )


LIKED_TRACKS_CSV, FEEDBACK_CSV = read_liked_list_paths()

# What a path typed into the Launchpad may name. The liked list and the feedback file are read
# from whatever path the run's config gives, so on a Dagster UI that others can reach, set
# `ALBUMREC_INPUT_DIRS` (folders separated by the OS path separator, ':' here) to the folders
# listeners keep their lists in: any other path is refused. Unset, any plain file may be read
# (the paths under /proc, /sys and /dev never). Lists larger than `ALBUMREC_MAX_INPUT_MB`
# (64 MB by default) are refused before they are read.
INPUT_DIRS_ENV_VAR = "ALBUMREC_INPUT_DIRS"
MAX_INPUT_MB_ENV_VAR = "ALBUMREC_MAX_INPUT_MB"
DEFAULT_MAX_INPUT_MB = 64


def read_input_dirs(environ: Mapping[str, str] | None = None) -> tuple[Path, ...]:
    folders = (setting(INPUT_DIRS_ENV_VAR, environ) or "").split(os.pathsep)
    return tuple(_path(INPUT_DIRS_ENV_VAR, folder.strip(), folder=True) for folder in folders if folder.strip())


def read_max_input_bytes(environ: Mapping[str, str] | None = None) -> int:
    value = setting(MAX_INPUT_MB_ENV_VAR, environ)
    if value is None:
        return DEFAULT_MAX_INPUT_MB * 1_000_000
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = math.nan
    if not (math.isfinite(megabytes) and megabytes > 0):
        raise SettingsError(
            MAX_INPUT_MB_ENV_VAR, value, "is not a positive number of megabytes",
            f"give one such as 64 or 0.5 (unset: {DEFAULT_MAX_INPUT_MB})",
        )
    return max(1, int(megabytes * 1_000_000))


INPUT_DIRS = read_input_dirs()
MAX_INPUT_BYTES = read_max_input_bytes()

# When the album search runs (schedules.album_search), and the time zone of both its ticks and the
# dated history's days (assets.history): one setting for the two, so a tick's local date is
# always one of the partitions, and a partition's date is the listener's own day.
CRON_ENV_VAR = "ALBUMREC_ALBUM_SEARCH_CRON"
TIMEZONE_ENV_VAR = "ALBUMREC_TIMEZONE"
DEFAULT_CRON = "0 6 * * *"
DEFAULT_TIMEZONE = "UTC"
# 29 February fires every four years (eight around 2100); what cannot fire within this never will.
CRON_HORIZON = dt.timedelta(days=5 * 366)
_CRON_ALLOWED = (
    "give five fields (minute hour day-of-month month day-of-week), such as '0 6 * * *' for 06:00 daily "
    f"or '30 7 * * 1' for Mondays at 07:30 (unset: {DEFAULT_CRON!r})"
)


def read_timezone(environ: Mapping[str, str] | None = None) -> str:
    value = setting(TIMEZONE_ENV_VAR, environ)
    if value is None:
        return DEFAULT_TIMEZONE
    try:
        ZoneInfo(value)
    except (KeyError, ValueError, OSError) as error:  # an unknown name, a path, a folder of zones
        raise SettingsError(
            TIMEZONE_ENV_VAR, value, "is not a time zone",
            f"give an IANA name such as UTC, America/New_York or Asia/Tokyo (unset: {DEFAULT_TIMEZONE})",
        ) from error
    return value


def read_album_search_cron(environ: Mapping[str, str] | None = None, timezone: str = DEFAULT_TIMEZONE) -> str:
    value = setting(CRON_ENV_VAR, environ)
    if value is None:
        return DEFAULT_CRON
    # Imported only for a cron that is set: `albumrec top` and `albumrec feedback` need no dagster
    # otherwise.
    import dagster as dg
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(value) or len(croniter.expand(value)[0]) != 5:
        raise SettingsError(CRON_ENV_VAR, value, "is not a cron expression", _CRON_ALLOWED)
    now = dt.datetime.now(ZoneInfo(timezone))
    try:
        fires = croniter(value, now).get_next(dt.datetime)
    except CroniterBadDateError:  # no such date within croniter's search, such as 31 April
        fires = None
    if fires is None or fires - now > CRON_HORIZON:
        raise SettingsError(CRON_ENV_VAR, value, f"never fires (no such time within {CRON_HORIZON.days // 366} years)", _CRON_ALLOWED)
    # Dagster reads the cron again when it builds the schedule: a schedule built here makes what
    # passes this check what the code location loads.
    try:
        dg.ScheduleDefinition(name="daily_album_search", job_name="album_search", cron_schedule=value, execution_timezone=timezone)
    except dg.DagsterInvalidDefinitionError as error:
        raise SettingsError(CRON_ENV_VAR, value, "is not a cron expression", _CRON_ALLOWED) from error
    return value


TIMEZONE = read_timezone()
ALBUM_SEARCH_CRON = read_album_search_cron(timezone=TIMEZONE)

# Where the labelled tracks' features and metadata come from (resources.source_selection).
SOURCE_ENV_VAR = "ALBUMREC_SOURCE"
CATALOG_KINDS = ("catalog", "demo", "dump")
SOURCE_KINDS = (*CATALOG_KINDS, "live")


def read_source(environ: Mapping[str, str] | None = None) -> str:
    value = setting(SOURCE_ENV_VAR, environ)
    if value is None:
        return CATALOG_KINDS[0]
    if value.lower() not in SOURCE_KINDS:
        raise SettingsError(
            SOURCE_ENV_VAR, value, "is not a source", f"give one of {', '.join(SOURCE_KINDS)} (unset: {CATALOG_KINDS[0]})"
        )
    return value.lower()


SOURCE = read_source()

# Mirrors of the live services, instead of the public servers (with ALBUMREC_SOURCE=live).
MUSICBRAINZ_URL_ENV_VAR = "ALBUMREC_MUSICBRAINZ_URL"
ACOUSTICBRAINZ_URL_ENV_VAR = "ALBUMREC_ACOUSTICBRAINZ_URL"
# The ListenBrainz API that `albumrec import listenbrainz` reads feedback from.
LISTENBRAINZ_URL_ENV_VAR = "ALBUMREC_LISTENBRAINZ_URL"
_URL_EXAMPLES = {
    MUSICBRAINZ_URL_ENV_VAR: "https://musicbrainz.org/ws/2",
    ACOUSTICBRAINZ_URL_ENV_VAR: "https://acousticbrainz.org",
    LISTENBRAINZ_URL_ENV_VAR: "https://api.listenbrainz.org",
}


def read_service_url(variable: str, environ: Mapping[str, str] | None = None) -> str | None:
    value = setting(variable, environ)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # a port that is not a number raises ValueError only when it is read
        usable = parts.scheme.lower() in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)
    except ValueError:
        usable = False
    if not usable:
        raise SettingsError(
            variable, value, "is not an http(s) URL",
            f"give the server's address, such as {_URL_EXAMPLES.get(variable, 'https://example.org')} (unset: the public server)",
        )
    return value


MUSICBRAINZ_URL = read_service_url(MUSICBRAINZ_URL_ENV_VAR)
ACOUSTICBRAINZ_URL = read_service_url(ACOUSTICBRAINZ_URL_ENV_VAR)
LISTENBRAINZ_URL = read_service_url(LISTENBRAINZ_URL_ENV_VAR)
