import subprocess
from pathlib import Path

import dagster as dg

from albumrec_pipeline.definitions import INGEST_JOBS, build_definitions, defs

TAG_TABLES = {"musicbrainz_release_group_tags", "musicbrainz_artist_tags"}
CATALOG_TABLES = {
    "acousticbrainz_lowlevel", "acousticbrainz_highlevel", "musicbrainz_releases", "musicbrainz_tracks",
} | TAG_TABLES
MUSICBRAINZ_TABLES = CATALOG_TABLES - {"acousticbrainz_lowlevel", "acousticbrainz_highlevel"}
EXPECTED_GROUPS = {
    "ingest": {"liked_tracks", "raw_track_features", "recording_features", "background_tracks"} | CATALOG_TABLES,
    "model": {"cleaned_dataset", "feature_scaler", "preference_model", "weight_reports"},
    "recommend": {"candidate_albums", "candidate_track_features", "track_scores", "album_recommendations", "album_playlist"},
}
# The model and recommend groups grow with the evaluation and explanation work; ingest is exactly this.
EXACT_GROUPS = ("ingest",)


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_described_and_grouped():
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 20, key
        groups.setdefault(node.group_name, set()).add(key.to_user_string())
    assert set(groups) == set(EXPECTED_GROUPS)
    for group, assets in EXPECTED_GROUPS.items():
        assert groups[group] == assets if group in EXACT_GROUPS else groups[group] >= assets, group


def test_lineage_runs_from_features_to_recommendations():
    graph = defs.resolve_asset_graph()
    upstream = {key.to_user_string() for key in graph.get(dg.AssetKey("album_recommendations")).parent_keys}
    assert upstream == {"candidate_albums", "track_scores"}
    scorer_inputs = {key.to_user_string() for key in graph.get(dg.AssetKey("track_scores")).parent_keys}
    # The network brings the scaler fit it was trained with: feature_scaler reaches the scores through it.
    assert scorer_inputs == {"candidate_track_features", "preference_model"}
    network_inputs = {key.to_user_string() for key in graph.get(dg.AssetKey("preference_model")).parent_keys}
    assert network_inputs == {"cleaned_dataset", "feature_scaler"}
    # The features come from the compacted table, made from the AcousticBrainz tables alone; the
    # catalog's MusicBrainz tables give the tracks their MusicBrainz tags.
    compacted = {key.to_user_string() for key in graph.get(dg.AssetKey("recording_features")).parent_keys}
    assert compacted == {"acousticbrainz_lowlevel", "acousticbrainz_highlevel"}
    features = {key.to_user_string() for key in graph.get(dg.AssetKey("candidate_track_features")).parent_keys}
    assert features == {"candidate_albums", "recording_features"} | MUSICBRAINZ_TABLES
    labelled = {key.to_user_string() for key in graph.get(dg.AssetKey("raw_track_features")).parent_keys}
    assert labelled == {"liked_tracks", "recording_features"} | MUSICBRAINZ_TABLES


def test_jobs_split_partitioned_ingest_from_the_rest():
    recommend = {key.to_user_string() for key in defs.resolve_job_def("recommend_albums").asset_layer.selected_asset_keys}
    everything = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    # The dated history is the scheduled album search's (one partition per day).
    assert recommend == everything - CATALOG_TABLES - {"recommendation_history"}
    search = {key.to_user_string() for key in defs.resolve_job_def("album_search").asset_layer.selected_asset_keys}
    assert "recommendation_history" in search and not search & (CATALOG_TABLES | {"preference_model", "liked_tracks"})
    # The search ranks archives ingested since the last one: it compacts their features first.
    assert "recording_features" in search
    ingested = set()
    for name in INGEST_JOBS:
        ingested |= {key.to_user_string() for key in defs.resolve_job_def(name).asset_layer.selected_asset_keys}
    assert ingested == CATALOG_TABLES


def test_partitions_are_the_archives_in_the_dump_folders(tmp_path):
    acousticbrainz, musicbrainz = tmp_path / "ab", tmp_path / "mb"
    acousticbrainz.mkdir()
    musicbrainz.mkdir()
    for name in ("acousticbrainz-lowlevel-json-20220623-0.tar.zst", "acousticbrainz-highlevel-json-20220623-0.tar.zst", "notes.txt"):
        (acousticbrainz / name).write_bytes(b"")
    for name in ("release.tar.xz", "release-group.tar.xz", "artist.tar.xz"):
        (musicbrainz / name).write_bytes(b"")
    built = build_definitions(acousticbrainz, musicbrainz, str(tmp_path / "warehouse"), tmp_path / "scratch")
    assert built.resolve_job_def("ingest_acousticbrainz").partitions_def.get_partition_keys() == [
        "acousticbrainz-highlevel-json-20220623-0",
        "acousticbrainz-lowlevel-json-20220623-0",
    ]
    assert built.resolve_job_def("ingest_musicbrainz").partitions_def.get_partition_keys() == ["release"]
    assert built.resolve_job_def("ingest_musicbrainz_release_group_tags").partitions_def.get_partition_keys() == [
        "release-group"
    ]
    assert built.resolve_job_def("ingest_musicbrainz_artist_tags").partitions_def.get_partition_keys() == ["artist"]


def test_the_instance_the_makefile_writes_limits_each_pool_to_one_step(tmp_path):
    """The pools only bind with an instance limit: `make dev`/`make demo` write it."""
    home = tmp_path / "dagster_home"
    repo = Path(__file__).resolve().parents[1]
    subprocess.run(["make", "-s", "-C", str(repo), f"DAGSTER_HOME={home}", f"{home}/dagster.yaml"], check=True)
    instance = dg.DagsterInstance.from_config(str(home))
    assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
    assert "telemetry:\n  enabled: false" in (home / "dagster.yaml").read_text()


def test_a_listeners_jobs_run_in_one_process_and_ingest_in_step_processes():
    """Step processes cost seconds each to start (Python and torch); a refresh is a dozen quick steps."""
    sensor_like = {"ops": {"liked_tracks": {"config": {"csv_path": "/lists/mine.csv", "feedback_csv_path": "/f.csv"}}}}
    for name in ("refresh_from_liked_list", "recommend_albums"):
        resolved = dg.validate_run_config(defs.resolve_job_def(name), sensor_like)
        assert "in_process" in resolved["execution"]["multi_or_in_process_executor"], name
    # The daily search's run config is its partition's, as the schedule and the Launchpad build it.
    search = defs.resolve_job_def("album_search")
    day = search.partitioned_config.get_run_config_for_partition_key("2026-11-20")
    assert "in_process" in dg.validate_run_config(search, day)["execution"]["multi_or_in_process_executor"]
    for name in INGEST_JOBS:
        resolved = dg.validate_run_config(defs.resolve_job_def(name), {})
        assert "multiprocess" in resolved["execution"]["multi_or_in_process_executor"], name
