"""Declarative automation across ticks: new upstream data requests what depends on it, and
nothing new requests nothing. Materializations are reported as events, so the ticks judge the
conditions alone, without running the assets."""

import dagster as dg
import pytest

from albumrec_pipeline.definitions import build_definitions

AUTOMATED = {
    "recording_features",
    "background_tracks",
    "raw_track_features",
    "cleaned_dataset",
    "feature_scaler",
    "preference_model",
    "weight_reports",
    "candidate_albums",
    "candidate_track_features",
    "track_scores",
    "album_recommendations",
    "album_explanations",
    "album_playlist",
}
UNPARTITIONED = sorted(AUTOMATED | {"liked_tracks", "model_evaluation"})
ARCHIVE_TABLES = {
    "acousticbrainz-lowlevel-json-20220623-0": ["acousticbrainz_lowlevel", "acousticbrainz_highlevel"],
    "release": ["musicbrainz_releases", "musicbrainz_tracks"],
}


@pytest.fixture
def defs(tmp_path):
    # The partitions are the archive files' names; the ticks never read them.
    (tmp_path / "ab").mkdir()
    (tmp_path / "mb").mkdir()
    (tmp_path / "ab" / "acousticbrainz-lowlevel-json-20220623-0.tar.zst").write_bytes(b"")
    (tmp_path / "mb" / "release.tar.xz").write_bytes(b"")
    return build_definitions(tmp_path / "ab", tmp_path / "mb", str(tmp_path / "warehouse"), tmp_path / "scratch")


class Ticks:
    def __init__(self, defs, instance):
        self.defs, self.instance, self.cursor = defs, instance, None

    def materialized(self, *keys: str, partition: str | None = None) -> None:
        for key in keys:
            self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))

    def requested(self) -> set[str]:
        result = dg.evaluate_automation_conditions(defs=self.defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return {
            key.to_user_string() for key in self.defs.resolve_asset_graph().get_all_asset_keys() if result.get_num_requested(key)
        }


@pytest.fixture
def ticks(defs):
    with dg.DagsterInstance.ephemeral() as instance:
        ticks = Ticks(defs, instance)
        for partition, tables in ARCHIVE_TABLES.items():
            ticks.materialized(*tables, partition=partition)
        ticks.materialized(*UNPARTITIONED)
        assert ticks.requested() == set()
        yield ticks


def test_the_automated_assets(defs):
    conditioned = {
        key.to_user_string()
        for key, node in ((node.key, node) for node in defs.resolve_asset_graph().asset_nodes)
        if node.automation_condition is not None
    }
    assert conditioned == AUTOMATED


def test_a_new_model_brings_the_ranking_up_to_date(ticks):
    ticks.materialized("preference_model")
    assert ticks.requested() == {
        "weight_reports", "track_scores", "album_recommendations", "album_explanations", "album_playlist",
    }
    assert ticks.requested() == set()


def test_new_catalog_data_brings_the_ranking_up_to_date(ticks):
    ticks.materialized("musicbrainz_releases", "musicbrainz_tracks", partition="release")
    requested = ticks.requested()
    assert {"candidate_albums", "candidate_track_features", "track_scores", "album_recommendations"} <= requested
    # The labelled tracks' features are looked up in the catalog too, so the model follows.
    assert "raw_track_features" in requested
    # The releases do not change which submission a recording's features come from.
    assert "recording_features" not in requested
    assert ticks.requested() == set()


def test_new_features_only_rescore_what_they_feed(ticks):
    ticks.materialized("acousticbrainz_lowlevel", partition="acousticbrainz-lowlevel-json-20220623-0")
    requested = ticks.requested()
    # Compacted again, then the candidates' features and the labelled tracks' (looked up in it).
    assert {"recording_features", "candidate_track_features", "raw_track_features"} <= requested
    assert "candidate_albums" not in requested


def test_a_new_list_flows_to_the_model_and_the_ranking(ticks):
    ticks.materialized("liked_tracks")
    requested = ticks.requested()
    assert {"raw_track_features", "preference_model", "candidate_albums", "album_recommendations"} <= requested
    # Cross-validation is minutes of work and changes nothing downstream: it runs when asked.
    assert "model_evaluation" not in requested and "recommendation_history" not in requested


def test_nothing_new_requests_nothing(ticks):
    assert ticks.requested() == set()
    assert ticks.requested() == set()


def test_a_failed_blocking_check_upstream_holds_the_automation_until_it_passes(ticks):
    """A run on a list that cannot teach a taste writes `raw_track_features`, then its blocking
    check fails and the run stops. The automation must not carry that table on to a model (nor
    race the list sensor's next run with a retrain of its own); once the check passes on new
    rows, the assets below follow."""
    failed = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("raw_track_features"), check_name="raw_track_features_enough_to_learn", passed=False,
        severity=dg.AssetCheckSeverity.ERROR,
    )
    ticks.materialized("raw_track_features")
    ticks.instance.report_runless_asset_event(failed)
    assert "cleaned_dataset" not in ticks.requested()
    assert "cleaned_dataset" not in ticks.requested()  # nor on a later tick, while the check stays failed

    ticks.materialized("raw_track_features")
    ticks.instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=failed.asset_key, check_name=failed.check_name, passed=True)
    )
    assert {"cleaned_dataset", "feature_scaler", "preference_model", "track_scores", "album_recommendations"} <= ticks.requested()
