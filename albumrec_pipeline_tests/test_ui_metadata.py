"""What the Dagster UI shows of a materialized demo pipeline without a click: described columns,
inline tables, rounded metrics, pictures; and album art and links only for real MusicBrainz ids."""

from __future__ import annotations

import uuid

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.assets.ingest import INPUT_FINGERPRINT_KEY
from albumrec_pipeline.assets.model import EVALUATED_LIST_KEY
from albumrec_pipeline.assets.recommend import TOP_COLUMNS
from albumrec_pipeline.cli import main
from albumrec_pipeline.core.albums import albums_markdown, cover_art_url, covers_markdown, is_made_up_id, musicbrainz_url
from albumrec_pipeline.core.feature_columns import encoded_feature_columns
from albumrec_pipeline.core.feature_labels import feature_label
from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world
from albumrec_pipeline_tests.pipeline_runs import (
    definitions_for,
    ingest_every_partition,
    recommend_run_config,
    warehouse_tables,
)

SEARCH_DAY = "2026-11-24"
# A light cross-validation: here it only has to write its metadata.
LIGHT_EVALUATION = {
    "config": {
        "folds": 2,
        "include_recording_grouped": False,
        "include_original_network": False,
        "network": {"epochs": 10, "ensemble_size": 1, "evaluate_every": 5},
    }
}
# liked_tracks is written in assets/ingest.py, whose share is not rounded yet.


class Materialized:
    def __init__(self, instance: dg.DagsterInstance, defs: dg.Definitions, warehouse, result):
        self.instance, self.defs, self.warehouse, self.result = instance, defs, warehouse, result
        self.tables = warehouse_tables(warehouse)

    def asset_keys(self) -> list[dg.AssetKey]:
        return sorted(self.defs.resolve_asset_graph().get_all_asset_keys(), key=lambda key: key.to_user_string())

    def materializations(self, key: dg.AssetKey) -> list[dg.AssetMaterialization]:
        """Every materialization of the asset: one per partition for the partitioned ones."""
        records = self.instance.fetch_materializations(key, limit=1000).records
        return [record.asset_materialization for record in records]

    def metadata(self, asset: str) -> dict[str, dg.MetadataValue]:
        return self.materializations(dg.AssetKey(asset))[0].metadata


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    """The small demo world ingested and recommend_albums and a day's album_search run, as
    `build_small_warehouse` does, on an instance kept open so the materializations can be read."""
    from albumrec_pipeline.demo.world import write_demo_world

    root = tmp_path_factory.mktemp("ui_metadata")
    paths = write_demo_world(build_demo_world(DemoWorldSpec.small()), root / "world")
    defs = definitions_for(paths, root / "warehouse", root / "scratch")
    with dg.DagsterInstance.ephemeral() as instance:
        assert all(run.success for run in ingest_every_partition(defs, instance))
        result = defs.resolve_job_def("recommend_albums").execute_in_process(
            run_config=recommend_run_config(paths.liked_tracks_path, root / "no_feedback.csv", model_evaluation=LIGHT_EVALUATION),
            instance=instance,
        )
        assert result.success
        assert defs.resolve_job_def("album_search").execute_in_process(partition_key=SEARCH_DAY, instance=instance).success
        yield Materialized(instance, defs, root / "warehouse", result)


def test_every_column_of_every_table_the_demo_writes_is_described(materialized):
    undescribed = {}
    for key in materialized.asset_keys():
        events = materialized.materializations(key)
        assert events, f"{key.to_user_string()} was not materialized"
        for event in events:
            schema = event.metadata["dagster/column_schema"].value
            assert schema.columns, key
            missing = [column.name for column in schema.columns if not (column.description or "").strip()]
            if missing:
                undescribed[key.to_user_string()] = missing
    assert not undescribed


def test_the_feature_columns_are_described_in_words(materialized):
    schema = materialized.metadata("cleaned_dataset")["dagster/column_schema"].value
    described = {column.name: column.description for column in schema.columns}
    assert set(encoded_feature_columns()) <= set(described)
    assert "rock (Rosamerica genre model)" in described["genre_rosamerica_roc"]
    assert "key of C" in described["key_key_C"]


def test_the_top_recommendations_are_an_inline_table_of_the_ranking(materialized):
    metadata = materialized.metadata("album_recommendations")
    top = metadata["top_recommendations"]
    assert isinstance(top, dg.TableMetadataValue)
    assert [column.name for column in top.schema.columns] == TOP_COLUMNS
    assert all(column.description for column in top.schema.columns)
    ranking = materialized.tables["album_recommendations"]
    best = ranking[ranking["recommended"]].sort_values("rank").head(10)
    assert [record.data["album_title"] for record in top.records] == best["album_title"].tolist()
    assert [record.data["predicted_liked_share"] for record in top.records] == best["predicted_liked_share"].round(3).tolist()
    # The demo's albums are made up: no cover art, no MusicBrainz links.
    assert "top_recommendations_covers" not in metadata
    assert "coverartarchive" not in str({key: value.value for key, value in metadata.items()})


def test_the_ranking_uses_the_predicted_names(materialized):
    ranking = materialized.tables["album_recommendations"]
    assert {"predicted_liked_tracks", "predicted_liked_share"} <= set(ranking.columns)
    assert not {"liked_tracks", "liked_share"} & set(ranking.columns)
    assert "predicted_liked_share" in materialized.tables["recommendation_history"].columns


def test_the_explanations_are_an_inline_table_in_words(materialized):
    metadata = materialized.metadata("album_explanations")
    explanations = metadata["explanations"]
    assert isinstance(explanations, dg.TableMetadataValue)
    assert [column.name for column in explanations.schema.columns] == [
        "rank", "album_title", "album_artist", "genres", "lifted_by", "sounds_like"
    ]
    table = materialized.tables["album_explanations"]
    # The genres most of an album's tracks share, in words: "Folk Rock, Americana: 9 of 11 tracks".
    named = table["genres"][table["genres"].str.len() > 0]
    assert len(named) and named.str.fullmatch(r"[^:]+: \d+ of \d+ tracks").all()
    assert [record.data["album_title"] for record in explanations.records] == table["album_title"].head(10).tolist()
    assert (table["lifted_by"].str.len() > 0).any()
    # The text is in words ("rock (Rosamerica genre model) (+0.22)"); the column names stay beside it.
    for lifted_by, features in zip(table["lifted_by"], table["lifting_features"], strict=True):
        for feature in filter(None, features.split(", ")):
            assert f"{feature_label(feature)} (+" in lifted_by
            assert f"{feature} (+" not in lifted_by


def _is_picture(value: dg.MetadataValue) -> bool:
    return isinstance(value, dg.MarkdownMetadataValue) and value.value.startswith("![")


def test_pictures_of_scores_importance_and_lifts(materialized):
    assert _is_picture(materialized.metadata("album_recommendations")["album_scores"])
    assert _is_picture(materialized.metadata("model_evaluation")["importance_by_group"])
    assert _is_picture(materialized.metadata("album_explanations")["what_lifted_the_top_albums"])


def test_reports_name_features_in_words_and_keep_the_column(materialized):
    top = materialized.metadata("weight_reports")["top_features"]
    assert isinstance(top, dg.TableMetadataValue)
    for record in top.records:
        assert record.data["label"] and record.data["label"] != record.data["feature"]
    assert {"feature", "label"} <= set(materialized.tables["weight_reports"].columns)
    importance = materialized.metadata("model_evaluation")["permutation_importance_top10"]
    assert all(record.data["label"] != record.data["feature"] for record in importance.records)


def _decimals(number: float) -> int:
    text = repr(float(number))
    return 0 if "e" in text or "." not in text else len(text.split(".")[1].rstrip("0"))


def test_metrics_are_rounded_to_what_they_mean(materialized):
    too_precise = []
    for key in materialized.asset_keys():
        asset = key.to_user_string()
        for event in materialized.materializations(key):
            for name, value in event.metadata.items():
                if isinstance(value, dg.FloatMetadataValue) and value.value is not None:
                    too_precise += [(asset, name, value.value)] if _decimals(value.value) > 3 else []
                if isinstance(value, dg.TableMetadataValue):
                    too_precise += [
                        (asset, f"{name}.{cell}", number)
                        for record in value.records
                        for cell, number in record.data.items()
                        if isinstance(number, float) and _decimals(number) > 3
                    ]
    assert not too_precise
    model = materialized.metadata("preference_model")
    assert 0.0 <= model["test_accuracy"].value <= 1.0 and _decimals(model["test_accuracy"].value) <= 3


def test_the_evaluation_records_the_list_it_evaluated(materialized):
    evaluated = materialized.metadata("model_evaluation")[EVALUATED_LIST_KEY].value
    assert evaluated == materialized.metadata("liked_tracks")[INPUT_FINGERPRINT_KEY].value
    checks = {
        evaluation.check_name: evaluation
        for evaluation in materialized.result.get_asset_check_evaluations()
        if evaluation.asset_key == dg.AssetKey("model_evaluation")
    }
    assert checks["model_evaluation_of_current_list"].passed


def test_albumrec_top_as_markdown_shows_no_art_for_the_demo(materialized, capsys):
    assert main(["top", "--format", "markdown", "--warehouse", str(materialized.warehouse)]) == 0
    printed = capsys.readouterr().out
    best = materialized.tables["album_recommendations"].sort_values("rank")["album_title"].iloc[0]
    assert best in printed and "album_title" in printed
    assert "coverartarchive" not in printed and "musicbrainz.org" not in printed


def test_the_demo_world_marks_its_album_ids_as_made_up():
    world = build_demo_world(DemoWorldSpec.small())
    group_ids = {release["release-group"]["id"] for release in world.releases}
    assert group_ids and all(is_made_up_id(group_id) for group_id in group_ids)
    assert all(cover_art_url(group_id) is None and musicbrainz_url(group_id) is None for group_id in group_ids)
    release_ids = {release["id"] for release in world.releases}
    assert not any(is_made_up_id(release_id) for release_id in release_ids)


def test_real_albums_get_a_cover_thumbnail_and_a_musicbrainz_link():
    real = str(uuid.UUID("f5093c06-23e3-404f-aeaa-40f72885ee3a"))  # a version-4 id, as MusicBrainz mints
    made_up = "91499e18-3359-8ea1-9fac-bbe5d74da4b8"
    albums = pd.DataFrame(
        {"rank": [1, 2], "album_title": ["Real | One", "Invented"], "release_group_id": [real, made_up], "mean_score": [0.91, 0.8]}
    )
    text = albums_markdown(albums, ["rank", "album_title", "mean_score"])
    assert f"![cover](https://coverartarchive.org/release-group/{real}/front-250)" in text
    assert f"[Real \\| One](https://musicbrainz.org/release-group/{real})" in text
    assert made_up not in text and text.count("coverartarchive") == 1
    plain = albums_markdown(albums.iloc[[1]], ["rank", "album_title", "mean_score"])
    assert "cover" not in plain and "Invented" in plain


def test_the_covers_beside_the_table_are_real_albums_only_and_fit_in_place():
    real = [str(uuid.UUID(int=number << 64 | 1, version=4)) for number in range(1, 12)]
    made_up = "91499e18-3359-8ea1-9fac-bbe5d74da4b8"
    albums = pd.DataFrame(
        {"rank": range(1, 13), "album_title": [f"Album {n}" for n in range(1, 13)], "release_group_id": [made_up, *real]}
    )
    assert covers_markdown(albums.head(1)) is None
    everything = covers_markdown(albums)
    assert everything.count("coverartarchive.org") == 11 and made_up not in everything
    assert f"| 2 | [![Album 2](https://coverartarchive.org/release-group/{real[0]}/front-250)]" in everything
    assert f"(https://musicbrainz.org/release-group/{real[0]})" in everything
    fitting = covers_markdown(albums, max_chars=999)
    assert len(fitting) <= 999 and 0 < fitting.count("coverartarchive.org") < 11
    assert everything.startswith(fitting)
