import dagster as dg

from albumrec_pipeline.definitions import defs

EXPECTED_GROUPS = {
    "ingest": {"liked_tracks", "raw_track_features"},
    "model": {"cleaned_dataset", "feature_scaler", "preference_model", "weight_reports"},
    "recommend": {"candidate_albums", "candidate_track_features", "track_scores", "album_recommendations"},
}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_every_asset_is_described_and_grouped():
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and len(node.description) > 20, key
        groups.setdefault(node.group_name, set()).add(key.to_user_string())
    assert groups == EXPECTED_GROUPS


def test_lineage_runs_from_features_to_recommendations():
    graph = defs.resolve_asset_graph()
    upstream = {key.to_user_string() for key in graph.get(dg.AssetKey("album_recommendations")).parent_keys}
    assert upstream == {"candidate_albums", "track_scores"}
    scorer_inputs = {key.to_user_string() for key in graph.get(dg.AssetKey("track_scores")).parent_keys}
    assert scorer_inputs == {"candidate_track_features", "feature_scaler", "preference_model"}


def test_the_job_covers_every_asset():
    job = defs.resolve_job_def("recommend_albums")
    assert len(job.asset_layer.selected_asset_keys) == 10
