"""Scoring candidate tracks and deciding which albums to recommend.

One entry per album, not per reissue: an album is a MusicBrainz release group, judged on one
representative release of it (see `album_ranking_sql`). The ranking is one SQL query, run by
DuckDB over DataFrames for small tables (`summarize_albums`) and over the catalog's Parquet
files at full size, so both give the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from albumrec_pipeline.core.dataset import encode_columns, raw_columns_for
from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    NUMERIC_AUDIO_COLUMNS,
    RELEASE_YEAR_COLUMN,
)
from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel, check_scaler_and_model
from albumrec_pipeline.core.tags import TAG_TEXT_COLUMNS

ALBUM_COLUMNS: list[str] = [
    "rank",
    "release_id",
    "release_group_id",
    "album_title",
    "album_artist",
    "release_year",
    "tracks",
    "tracks_with_features",
    "feature_coverage",
    "predicted_liked_tracks",
    "predicted_liked_share",
    "mean_score",
    "recommended",
    "releases_in_group",
]
# Tracklist columns the ranking reads; those a table lacks are taken as unknown.
_RANKING_TRACK_COLUMNS = [
    "release_id", "release_group_id", "album_title", "album_artist", "release_year", "release_date", "status",
    "recording_id",
]


@dataclass(frozen=True)
class AlbumThresholds:
    # A track counts as liked when its predicted probability reaches this.
    liked_song_threshold: float = 0.5
    # An album is recommended when this share of its scored tracks is liked ...
    album_recommendation_threshold: float = 0.6
    # ... and it has at least this many tracks ...
    album_track_length_threshold: int = 5
    # ... and at least this share of its tracks could be scored at all.
    min_feature_coverage: float = 0.5


def threshold_violations(ranking: pd.DataFrame, thresholds: AlbumThresholds) -> pd.DataFrame:
    """Rows of a ranking marked recommended that do not meet `thresholds` (empty when all do)."""
    recommended = ranking[ranking["recommended"]]
    scored = recommended["tracks_with_features"].clip(lower=1)
    meets = (
        (recommended["tracks"] >= thresholds.album_track_length_threshold)
        & (recommended["feature_coverage"] >= thresholds.min_feature_coverage - 1e-9)
        & (recommended["predicted_liked_tracks"] / scored >= thresholds.album_recommendation_threshold - 1e-9)
        & (recommended["tracks_with_features"] > 0)
    )
    return recommended[~meets]


@dataclass(frozen=True)
class RankingOptions:
    # At most this many albums per album artist in the ranking (None: no limit), so one
    # prolific artist the listener would like does not fill the whole list.
    max_albums_per_artist: int | None = None


def score_tracks(
    features: pd.DataFrame, scaler: FittedScaler, model: TrainedPreferenceModel, batch_size: int = 65536
) -> np.ndarray:
    """Like-probability for each raw feature row (enriched-CSV columns), in row order."""
    check_scaler_and_model(scaler, model)
    encoded = encode_columns(features, scaler.feature_columns, with_tag_text=scaler.tags is not None)
    scores = [
        model.like_probability(scaler.transform(encoded.iloc[start : start + batch_size]))
        for start in range(0, len(encoded), batch_size)
    ]
    return np.concatenate(scores) if scores else np.empty(0, dtype="float32")


def fill_missing_years(features: pd.DataFrame, scaler: FittedScaler, in_place: bool = False) -> pd.DataFrame:
    """A recording with no known release year is scored as if from the middle of the training years."""
    summary = scaler.summary_table().set_index("feature")
    if RELEASE_YEAR_COLUMN not in summary.index:
        return features
    data_min, data_max = summary.loc[RELEASE_YEAR_COLUMN, ["data_min", "data_max"]]
    features = features if in_place else features.copy()
    features[RELEASE_YEAR_COLUMN] = features[RELEASE_YEAR_COLUMN].astype("float64").fillna((data_min + data_max) / 2)
    return features


# What scoring reads of a feature row: the model's inputs, never the titles. The tag text is read
# by a model with tag inputs, the artist by a model that pools its tracks' scores.
SCORING_COLUMNS: list[str] = ["mbid", RELEASE_YEAR_COLUMN, *NUMERIC_AUDIO_COLUMNS, *CATEGORICAL_VOCABULARIES]
ARTIST_KEY_COLUMN = "artist"


def scoring_columns(scaler: FittedScaler, available: Iterable[str]) -> list[str]:
    """The columns of a candidate feature table that scoring reads, of those `available`."""
    available = set(available)
    extra = [*TAG_TEXT_COLUMNS, ARTIST_KEY_COLUMN] if scaler.tags is not None else [ARTIST_KEY_COLUMN]
    return SCORING_COLUMNS + [column for column in extra if column in available]


def score_feature_batches(
    batches: Iterable[pd.DataFrame], scaler: FittedScaler, model: TrainedPreferenceModel
) -> Iterator[pd.DataFrame]:
    """`recording_id`, `artist`, `like_probability` for every row of each batch that has what the
    model reads (`artist` is None when the batch has none).

    Rows missing a column the model reads (a compact-only recording under a full model) are left
    out: they count as tracks without features.
    """
    needed = [column for column in raw_columns_for(scaler.feature_columns) if column != RELEASE_YEAR_COLUMN]
    for batch in batches:
        usable = batch.dropna(subset=needed)
        if usable.empty:
            continue
        # dropna made a new frame already; filling it in place saves a copy of the batch.
        scores = score_tracks(fill_missing_years(usable, scaler, in_place=True), scaler, model, batch_size=len(usable))
        artists = usable[ARTIST_KEY_COLUMN].to_numpy() if ARTIST_KEY_COLUMN in usable else [None] * len(usable)
        yield pd.DataFrame(
            {"recording_id": usable["mbid"].to_numpy(), "artist": artists, "like_probability": scores.astype("float64")}
        )


def pooled_scores_sql(scores: str, weight: float) -> str:
    """Track scores pooled by artist (`core.evaluation.pool_by_artist`) over the whole scored table:
    `(1 - w) * own + w * mean of the artist's tracks`. Artists match case- and space-insensitively;
    a track without an artist keeps its own score."""
    key = "lower(trim(artist))"
    return f"""
        SELECT recording_id,
               CASE WHEN artist IS NULL OR {key} = '' THEN like_probability
                    ELSE {1 - weight!r} * like_probability + {weight!r} * avg(like_probability) OVER (PARTITION BY {key})
               END AS like_probability
        FROM {scores}
    """


def album_ranking_sql(tracks: str, scores: str, thresholds: AlbumThresholds, options: RankingOptions) -> str:
    """Every album (release group) on the tracklists with its scores, the decision and its rank.

    `tracks`: table expression with tracklist rows; `scores`: one with `recording_id`,
    `like_probability`. Per release: tracks, tracks with a score, tracks predicted liked, mean score.
    Per release group, the representative release is the official one with the most scored
    tracks, then the earliest, then the lowest id; the album's year is the group's earliest.
    `predicted_liked_share` is over the scored tracks, since an unscored track says nothing about taste;
    `feature_coverage` says how much of the album that share stands on.
    """
    liked = float(thresholds.liked_song_threshold)
    cap = options.max_albums_per_artist
    capped = f"WHERE artist_rank <= {int(cap)}" if cap is not None else ""
    order = "recommended DESC, predicted_liked_share DESC, mean_score DESC NULLS LAST, tracks DESC, release_id"
    return f"""
        WITH per_release AS (
            SELECT t.release_id,
                   any_value(t.release_group_id) AS release_group_id,
                   any_value(t.album_title) AS album_title,
                   any_value(t.album_artist) AS album_artist,
                   min(t.release_year) AS release_year,
                   min(t.release_date) AS release_date,
                   any_value(t.status) AS status,
                   count(*) AS tracks,
                   count(s.like_probability) AS tracks_with_features,
                   count(*) FILTER (WHERE s.like_probability >= {liked!r}) AS predicted_liked_tracks,
                   avg(s.like_probability) AS mean_score
            FROM {tracks} AS t
            LEFT JOIN (
                SELECT recording_id, any_value(like_probability) AS like_probability FROM {scores} GROUP BY recording_id
            ) AS s ON s.recording_id = t.recording_id
            GROUP BY t.release_id
        ),
        albums AS (
            SELECT *,
                   count(*) OVER album AS releases_in_group,
                   min(release_year) OVER album AS group_year
            FROM per_release
            WINDOW album AS (PARTITION BY coalesce(release_group_id, release_id))
            QUALIFY row_number() OVER (
                PARTITION BY coalesce(release_group_id, release_id)
                ORDER BY (status = 'Official') DESC NULLS LAST, tracks_with_features DESC, release_date NULLS LAST,
                         release_id
            ) = 1
        ),
        decided AS (
            SELECT *,
                   tracks_with_features / tracks AS feature_coverage,
                   coalesce(predicted_liked_tracks / nullif(tracks_with_features, 0), 0.0) AS predicted_liked_share
            FROM albums
        ),
        judged AS (
            SELECT *,
                   (predicted_liked_share >= {float(thresholds.album_recommendation_threshold)!r}
                    AND tracks >= {int(thresholds.album_track_length_threshold)}
                    AND feature_coverage >= {float(thresholds.min_feature_coverage)!r}) AS recommended
            FROM decided
        ),
        per_artist AS (
            SELECT *, row_number() OVER (PARTITION BY album_artist ORDER BY {order}) AS artist_rank
            FROM judged
        )
        SELECT row_number() OVER (ORDER BY {order}) AS rank,
               release_id, release_group_id, album_title, album_artist,
               CAST(group_year AS BIGINT) AS release_year,
               CAST(tracks AS BIGINT) AS tracks,
               CAST(tracks_with_features AS BIGINT) AS tracks_with_features,
               CAST(feature_coverage AS DOUBLE) AS feature_coverage,
               CAST(predicted_liked_tracks AS BIGINT) AS predicted_liked_tracks,
               CAST(predicted_liked_share AS DOUBLE) AS predicted_liked_share,
               CAST(mean_score AS DOUBLE) AS mean_score,
               recommended,
               CAST(releases_in_group AS BIGINT) AS releases_in_group
        FROM per_artist {capped}
        ORDER BY rank
    """


def summarize_albums(
    tracklists: pd.DataFrame,
    track_scores: pd.DataFrame,
    thresholds: AlbumThresholds,
    options: RankingOptions = RankingOptions(),
) -> pd.DataFrame:
    """One row per album (`ALBUM_COLUMNS`), best first, from in-memory tracklists and scores."""
    tracks = tracklists.copy()
    for column in _RANKING_TRACK_COLUMNS:
        if column not in tracks:
            tracks[column] = None
    tracks = tracks[_RANKING_TRACK_COLUMNS].astype({"release_year": "Int64"})
    for column in ("release_date", "status", "release_group_id", "album_title", "album_artist"):
        tracks[column] = tracks[column].astype("object")
    connection = duckdb.connect(":memory:")
    try:
        connection.register("tracklists", tracks)
        connection.register("track_scores", track_scores[["recording_id", "like_probability"]])
        albums = connection.execute(album_ranking_sql("tracklists", "track_scores", thresholds, options)).df()
    finally:
        connection.close()
    albums["release_year"] = albums["release_year"].astype("Int64")
    return albums[ALBUM_COLUMNS]


# MusicBrainz mints version-4 (random) UUIDs. The demo world mints its release-group ids as
# version 8, RFC 9562's version for ids of one's own making, so that nothing shows cover art or
# a MusicBrainz page for an album that does not exist.
MADE_UP_UUID_VERSION = "8"
COVER_ART_URL = "https://coverartarchive.org/release-group/{}/front-250"
MUSICBRAINZ_URL = "https://musicbrainz.org/release-group/{}"


def is_made_up_id(mbid: object) -> bool:
    return isinstance(mbid, str) and len(mbid) == 36 and mbid[14] == MADE_UP_UUID_VERSION


def _real_id(mbid: object) -> str | None:
    return mbid if isinstance(mbid, str) and len(mbid) == 36 and not is_made_up_id(mbid) else None


def cover_art_url(release_group_id: object) -> str | None:
    """The Cover Art Archive's 250-pixel front cover of a release group (loaded by the viewer's
    browser, never by albumrec), or None for a missing or made-up id."""
    real = _real_id(release_group_id)
    return None if real is None else COVER_ART_URL.format(real)


def musicbrainz_url(release_group_id: object) -> str | None:
    real = _real_id(release_group_id)
    return None if real is None else MUSICBRAINZ_URL.format(real)


def _markdown_text(value: object) -> str:
    # Titles are free text: keep them from closing a link or splitting a table cell.
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def albums_markdown(albums: pd.DataFrame, columns: list[str], floatfmt: str = ".2f") -> str:
    """`columns` of `albums` as a Markdown table; albums with a real release-group id get a cover
    thumbnail and a title linked to their MusicBrainz page. Without any real id (the demo world)
    the table is the plain one, with no cover column."""
    table = albums[columns].copy()
    ids = albums["release_group_id"] if "release_group_id" in albums else pd.Series(None, index=albums.index)
    covers = ids.map(cover_art_url)
    if covers.isna().all():
        return table.to_markdown(index=False, floatfmt=floatfmt)
    if "album_title" in table:
        pages = ids.map(musicbrainz_url)
        table["album_title"] = [
            _markdown_text(title) if page is None else f"[{_markdown_text(title)}]({page})"
            for title, page in zip(table["album_title"], pages, strict=True)
        ]
    table.insert(0, "cover", [f"![cover]({url})" if url else "" for url in covers])
    return table.to_markdown(index=False, floatfmt=floatfmt)


def covers_markdown(albums: pd.DataFrame, max_chars: int | None = None) -> str | None:
    """The albums' cover thumbnails, best first, each linked to the album's MusicBrainz page, with
    its rank and its title as the image's text; as many as fit in `max_chars`. None when no album
    has a real release-group id."""
    rows = []
    for album in albums.itertuples(index=False):
        cover, page = cover_art_url(album.release_group_id), musicbrainz_url(album.release_group_id)
        if cover is not None:
            rows.append(f"| {album.rank} | [![{_markdown_text(album.album_title)}]({cover})]({page}) |")
    if not rows:
        return None
    text = "| rank | cover |\n|---:|---|"
    for row in rows:
        if max_chars is not None and len(text) + 1 + len(row) > max_chars:
            break
        text += "\n" + row
    return text
