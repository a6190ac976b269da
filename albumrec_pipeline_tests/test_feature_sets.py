"""Feature sets named by what a listener can download, and the `auto` choice between them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from albumrec_pipeline.core.dataset import clean_dataset
from albumrec_pipeline.core.feature_columns import HIGHLEVEL_COLUMNS, LOWLEVEL_SCALARS, MFCC_COLUMNS, RAW_TRACK_COLUMNS
from albumrec_pipeline.core.feature_sets import (
    FEATURE_SETS,
    choose_feature_set,
    complete_rows,
    coverage,
    feature_set_columns,
    feature_set_coverage_sql,
)

# What the CSV feature dumps lack: every low-level column but bpm, loudness, dynamic complexity and mfcc_1.
NOT_IN_CSV_DUMPS = [c for c in [*LOWLEVEL_SCALARS, *MFCC_COLUMNS, "chords_key", "chords_scale"]
                    if c not in ("bpm", "average_loudness", "dynamic_complexity", "mfcc_1")]


def raw_rows(count: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = pd.DataFrame({column: rng.random(count) for column in RAW_TRACK_COLUMNS})
    rows["mbid"] = [f"m{index}" for index in range(count)]
    rows["artist"] = [f"artist {index % 12}" for index in range(count)]
    rows["liked"] = [index % 12 < 6 for index in range(count)]
    rows["liked"] = rows["liked"].astype(int)
    for column in ("key_key", "chords_key"):
        rows[column] = "C"
    for column in ("key_scale", "chords_scale"):
        rows[column] = "major"
    rows["genre"] = "Rock"
    rows["release_title"] = rows["recording_title"] = "t"
    rows["release_year"] = 2000.0
    return rows


def practical_download(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as the practical download gives them: high-level JSON and the CSV dumps, no low-level JSON."""
    practical = rows.copy()
    practical[NOT_IN_CSV_DUMPS] = np.nan
    return practical


def test_the_sets_nest_from_compact_to_full():
    compact, middle, full = (set(feature_set_columns(name)) for name in ("compact", "highlevel+compact", "full"))
    assert compact < middle
    assert set(HIGHLEVEL_COLUMNS) <= middle and set(HIGHLEVEL_COLUMNS) <= full
    assert not set(HIGHLEVEL_COLUMNS) & compact
    assert feature_set_columns("audio") == feature_set_columns("full")  # the name earlier versions used
    with pytest.raises(ValueError, match="unknown feature set"):
        feature_set_columns("everything")


def test_auto_takes_the_richest_set_that_covers_enough():
    rows = raw_rows(100)
    assert choose_feature_set("auto", rows).name == "full"
    # The practical download: no low-level JSON, so full covers nothing and highlevel+compact everything.
    practical = practical_download(rows)
    choice = choose_feature_set("auto", practical)
    assert choice.name == "highlevel+compact"
    assert choice.labelled_coverage == {"full": 0.0, "highlevel+compact": 1.0, "compact": 1.0}
    assert "full covers only 0% of the labelled recordings" in choice.reason
    # CSV dumps only.
    compact = practical.copy()
    compact[HIGHLEVEL_COLUMNS] = np.nan
    assert choose_feature_set("auto", compact).name == "compact"


def test_auto_needs_ninety_percent_of_the_labelled_rows_and_of_the_candidates():
    rows = raw_rows(100)
    mostly = pd.concat([rows.iloc[:89], practical_download(rows.iloc[89:])])
    assert coverage(mostly)["full"] == pytest.approx(0.89)
    assert choose_feature_set("auto", mostly).name == "highlevel+compact"
    assert choose_feature_set("auto", pd.concat([rows.iloc[:90], practical_download(rows.iloc[90:])])).name == "full"
    # The labelled rows have everything, but the catalog was ingested from the practical download.
    catalog = {"full": 0.05, "highlevel+compact": 0.97, "compact": 1.0}
    choice = choose_feature_set("auto", rows, catalog)
    assert choice.name == "highlevel+compact"
    assert "5% of the candidates with features" in choice.reason
    # A named set is taken as asked, whatever it covers.
    assert choose_feature_set("full", practical_download(rows), catalog).name == "full"


def test_rows_without_low_level_json_stay_in_the_cleaned_dataset():
    """The practical download's rows are kept (they used to be dropped as incomplete), and the
    model's rows are those its set covers."""
    rows = pd.concat([raw_rows(60), practical_download(raw_rows(40, seed=1)).assign(mbid=lambda f: "p" + f["mbid"])])
    table, removed = clean_dataset(rows)
    assert len(table) == 100 and removed["missing_critical_fields"] == 0
    assert complete_rows(table, feature_set_columns("full")).sum() == 60
    assert complete_rows(table, feature_set_columns("highlevel+compact")).sum() == 100
    # Without a compact column (no bpm) a row cannot be used by any set.
    broken = raw_rows(10).assign(bpm=np.nan)
    assert clean_dataset(broken)[1]["missing_critical_fields"] == 10


def test_the_catalog_coverage_query_counts_what_each_set_can_score():
    import duckdb

    rows = pd.concat([raw_rows(6), practical_download(raw_rows(3, seed=2))], ignore_index=True)
    rows.loc[8, "bpm"] = np.nan  # one row even the compact set cannot score
    connection = duckdb.connect()
    connection.register("features", rows)
    counts = connection.execute(feature_set_coverage_sql("features")).fetchone()
    assert dict(zip(FEATURE_SETS, counts, strict=True)) == {"full": 6, "highlevel+compact": 8, "compact": 8}
