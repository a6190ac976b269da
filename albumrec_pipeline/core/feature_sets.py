"""Named sets of model inputs, by what a listener can download, and the rule that picks one.

| set                 | what it needs                                                        |
|---------------------|----------------------------------------------------------------------|
| `full`              | low-level JSON + high-level JSON (+ MusicBrainz for the year, tags)  |
| `highlevel+compact` | high-level JSON + the CSV feature dumps (+ MusicBrainz)              |
| `compact`           | the CSV feature dumps only (+ MusicBrainz)                           |

Genre tags are orthogonal to the set: every set can add them (`FeatureScalerConfig.tags`).
`all` is the original project's inputs (`full` plus one-hot keys and chords), kept for comparison.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from albumrec_pipeline.core.dataset import raw_columns_for
from albumrec_pipeline.core.feature_columns import (
    HIGHLEVEL_COLUMNS,
    NUMERIC_AUDIO_COLUMNS,
    RELEASE_YEAR_COLUMN,
    compact_encoded_feature_columns,
    encoded_feature_columns,
)

# Richest first: `auto` takes the first that covers enough recordings.
FEATURE_SETS = ("full", "highlevel+compact", "compact")
COMPARISON_SETS = ("all",)
# Names earlier albumrec versions used.
FEATURE_SET_ALIASES = {"audio": "full"}
AUTO = "auto"
# `auto` needs a set to cover this share of the labelled recordings and of the candidates.
AUTO_MIN_COVERAGE = 0.9
# The metadata key under which candidate_track_features records the share of candidates each set covers.
CANDIDATE_COVERAGE_KEY = "candidate_coverage_by_feature_set"


def canonical_feature_set(name: str) -> str:
    name = FEATURE_SET_ALIASES.get(name, name)
    if name not in (*FEATURE_SETS, *COMPARISON_SETS):
        raise ValueError(f"unknown feature set {name!r}; choose {AUTO} or one of {FEATURE_SETS + COMPARISON_SETS}")
    return name


def feature_set_columns(name: str) -> list[str]:
    """The encoded feature columns of a set, in `encoded_feature_columns()` order."""
    name = canonical_feature_set(name)
    if name == "full":
        return NUMERIC_AUDIO_COLUMNS + [RELEASE_YEAR_COLUMN]
    if name == "all":
        return encoded_feature_columns()
    compact = compact_encoded_feature_columns()
    if name == "compact":
        return compact
    wanted = set(HIGHLEVEL_COLUMNS) | set(compact)
    return [column for column in encoded_feature_columns() if column in wanted]


def complete_rows(table: pd.DataFrame, columns: list[str]) -> pd.Series:
    """Which rows hold every one of `columns` (encoded or raw, whichever the table has)."""
    present = [column for column in columns if column in table]
    if len(present) < len(columns):
        # Raw rows: judge the raw columns the encoded ones are made from.
        present = [column for column in raw_columns_for(columns) if column in table]
        if len(present) < len(raw_columns_for(columns)):
            return pd.Series(False, index=table.index)
    return table[present].notna().all(axis=1)


def feature_set_coverage_sql(features: str) -> str:
    """One row: for each of `FEATURE_SETS`, how many rows of a raw feature table hold every column the
    set reads (the release year aside: a missing year is filled in when scoring)."""
    counts = []
    for name in FEATURE_SETS:
        columns = [column for column in raw_columns_for(feature_set_columns(name)) if column != RELEASE_YEAR_COLUMN]
        condition = " AND ".join(f'"{column}" IS NOT NULL' for column in columns)
        counts.append(f"count(*) FILTER (WHERE {condition})")
    return f"SELECT {', '.join(counts)} FROM {features}"


def coverage(table: pd.DataFrame) -> dict[str, float]:
    """The share of rows each set covers."""
    if not len(table):
        return dict.fromkeys(FEATURE_SETS, 0.0)
    return {name: float(complete_rows(table, feature_set_columns(name)).mean()) for name in FEATURE_SETS}


@dataclass(frozen=True)
class FeatureSetChoice:
    name: str
    reason: str
    labelled_coverage: dict[str, float]
    candidate_coverage: dict[str, float] | None


def choose_feature_set(
    requested: str,
    labelled: pd.DataFrame,
    candidate_coverage: Mapping[str, float] | None = None,
    min_coverage: float = AUTO_MIN_COVERAGE,
) -> FeatureSetChoice:
    """The set to train on. A named set is taken as asked. `auto` takes the richest set that holds
    for at least `min_coverage` of the labelled rows and (when known) of the candidate recordings
    that have features (`candidate_coverage`, as candidate_track_features records it),
    and the compact set when none does: a model must be able to score what the catalog holds."""
    labelled_coverage = coverage(labelled)
    candidates = None if candidate_coverage is None else {name: float(candidate_coverage.get(name, 0.0)) for name in FEATURE_SETS}
    if requested != AUTO:
        name = canonical_feature_set(requested)
        return FeatureSetChoice(name, f"{name} was asked for", labelled_coverage, candidates)

    def describe(name: str) -> str:
        text = f"{labelled_coverage[name]:.0%} of the labelled recordings"
        return text + ("" if candidates is None else f" and {candidates[name]:.0%} of the candidates with features")

    unknown = "" if candidates is not None else "; no candidate search has recorded the catalog's coverage yet"
    for name in FEATURE_SETS:
        if labelled_coverage[name] >= min_coverage and (candidates is None or candidates[name] >= min_coverage):
            richer = FEATURE_SETS[: FEATURE_SETS.index(name)]
            why = "; ".join(f"{other} covers only {describe(other)}" for other in richer)
            return FeatureSetChoice(
                name,
                f"{name} covers {describe(name)} (at least {min_coverage:.0%} needed)" + (f"; {why}" if why else "") + unknown,
                labelled_coverage,
                candidates,
            )
    return FeatureSetChoice(
        "compact",
        f"no set covers {min_coverage:.0%} of both; compact, the smallest, covers {describe('compact')}",
        labelled_coverage,
        candidates,
    )
