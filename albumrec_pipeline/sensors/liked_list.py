"""The liked-list sensor: a changed list or feedback file brings model and recommendations up to date.

Which files it follows:

- the list and feedback file that `ALBUMREC_LIKED_TRACKS` and `ALBUMREC_FEEDBACK` name (or their
  defaults), read when the code location loads, when they are not the ones the latest
  `liked_tracks` materialization was run under: the listener pointed the variable at another
  list (and restarted `make dev` or reloaded the code location), so that list is trained on;
- otherwise the two files the latest `liked_tracks` materialization read, whichever list was
  chosen (in the Launchpad, or by the variable).

It compares a SHA-256 of their contents (not their modification times, which editors and copies
change without changing anything) with the fingerprint that materialization recorded. So it
neither misses an edit made while Dagster was down nor re-runs after a `touch`, and a file put
back as it was two edits ago is still a change from what the model was trained on. Until
`liked_tracks` has been materialized once (which needs the catalog ingested first) it waits.

The cursor holds the fingerprint last requested, so a change is requested once even while its
run is still going; a run that fails is not retried until the files change again.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg

from albumrec_pipeline.assets.ingest import FEEDBACK_SETTING_KEY, INPUT_FINGERPRINT_KEY, LIST_SETTING_KEY
from albumrec_pipeline.core.feedback import input_fingerprint
from albumrec_pipeline.recorded import latest_metadata
from albumrec_pipeline.settings import read_liked_list_paths

# What `dg.define_asset_job` returns: a job the Definitions resolve, of a class Dagster does not export.
AssetJob = Any

LIKED_TRACKS = dg.AssetKey("liked_tracks")
# Often enough that a saved list is trained on within seconds; hashing a list is cheap.
SENSOR_INTERVAL_SECONDS = 10


@dataclass(frozen=True)
class RecordedInputs:
    """What the latest liked_tracks materialization read, and the files the settings named then."""

    fingerprint: str
    liked_list: Path
    feedback: Path
    # None for a materialization from before these were recorded: take the files read as the setting.
    settings: tuple[Path, Path] | None


def recorded_inputs(instance: dg.DagsterInstance) -> RecordedInputs | None:
    """The latest liked_tracks materialization's inputs, or None when there is none."""
    metadata = latest_metadata(instance, LIKED_TRACKS)
    if metadata is None or not all(key in metadata for key in (INPUT_FINGERPRINT_KEY, "source", "feedback")):
        return None
    settings = None
    if LIST_SETTING_KEY in metadata and FEEDBACK_SETTING_KEY in metadata:
        settings = (Path(str(metadata[LIST_SETTING_KEY].value)), Path(str(metadata[FEEDBACK_SETTING_KEY].value)))
    return RecordedInputs(
        str(metadata[INPUT_FINGERPRINT_KEY].value),
        Path(str(metadata["source"].value)),
        Path(str(metadata["feedback"].value)),
        settings,
    )


def watched_files(recorded: RecordedInputs, configured: tuple[Path, Path]) -> tuple[Path, Path, str]:
    """The list and feedback file to follow, and why."""
    settings_then = recorded.settings or (recorded.liked_list, recorded.feedback)
    if configured != settings_then and configured != (recorded.liked_list, recorded.feedback):
        return *configured, "the list ALBUMREC_LIKED_TRACKS names changed"
    return recorded.liked_list, recorded.feedback, "liked list changed"


def build_liked_list_sensor(
    job: AssetJob,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
    configured: tuple[Path, Path] | None = None,
) -> dg.SensorDefinition:
    """A sensor that runs `job` (liked_tracks and what depends on it) when the list or feedback changes.

    `configured`: the list and feedback file the settings name; by default read from the
    environment now, as the code location loads.
    """
    configured = configured or read_liked_list_paths()

    @dg.sensor(
        name="liked_list_changed",
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=default_status,
        description="Retrains and re-ranks when the liked list or the feedback file changes (by content), "
        f"or when ALBUMREC_LIKED_TRACKS names another list (now {configured[0]}).",
    )
    def liked_list_changed(context: dg.SensorEvaluationContext):
        recorded = recorded_inputs(context.instance)
        if recorded is None:
            return dg.SkipReason("liked_tracks was never materialized; the sensor follows changes after the first run")
        liked_list, feedback, trigger = watched_files(recorded, configured)
        if not liked_list.is_file():
            return dg.SkipReason(f"{liked_list} (the list to follow) does not exist")
        fingerprint = input_fingerprint(liked_list, feedback)
        if fingerprint == context.cursor:
            return dg.SkipReason("already requested a run for this content")
        context.update_cursor(fingerprint)
        if fingerprint == recorded.fingerprint:
            return dg.SkipReason("liked_tracks is up to date with the files")
        return dg.RunRequest(
            # No run key: the daemon never repeats one, and a list put back as it was two edits ago
            # must run again. The cursor is what keeps a change from being requested twice.
            run_key=None,
            run_config={
                "ops": {"liked_tracks": {"config": {"csv_path": str(liked_list), "feedback_csv_path": str(feedback)}}}
            },
            tags={"albumrec/trigger": trigger, "albumrec/input_sha256": fingerprint},
        )

    return liked_list_changed
