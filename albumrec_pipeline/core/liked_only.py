"""Learning a taste from loved tracks alone: positive-unlabelled learning against a catalog background.

Most listeners know what they love and keep no list of what they dislike. With few dislikes
albumrec switches to the *liked-only* mode: the liked recordings are the positives, and a
background sample of catalog recordings with features stands in for the negatives. The network
then learns "more like what you love than the catalog at large".

* **Which mode.** `choose_taste_mode`: liked-only when the list holds fewer than
  `min_disliked_rows` dislikes or they are under `min_disliked_share` of its rows (defaults 20
  and 15%); supervised otherwise. Either can be asked for.
* **The background.** `background_sample_sql`: catalog recordings with features, drawn by
  artist in rounds (one recording of every artist, in a seeded random order, then a second of
  every artist that has one, and so on), so prolific artists do not dominate; leaving out the
  listener's recordings and every artist credited on them; `ratio` times as many as the liked
  recordings. Any dislikes the list has stay in the
  training rows as negatives, beside the background.
* **What the scores mean.** The background is unlabelled, not disliked: some of it the listener
  would love. Under the usual assumption that the liked tracks are a random sample of all the
  tracks the listener would like ("selected completely at random"), a classifier of liked
  against background gives g(x) = P(listed | x), a monotone function of P(liked | x) (Elkan and
  Noto, 2008). With c, the mean of g over held-out liked tracks (the validation artists'),
  P(liked | x) = (1 - c) / c * g / (1 - g), clipped to [0, 1] (`liked_probability`; this is
  Elkan and Noto's estimator for a background drawn apart from the positives). So the
  threshold of 0.5 keeps its meaning, "more likely liked than not", and the ranking is the same
  as by g. The estimated share of the background the listener would like is
  `background_liked_share`.
* **How it is judged.** On held-out artists: ROC-AUC of liked against background tracks, and the
  recall of the liked ones among the top 1% of the background (`recall_at_top`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, RAW_TRACK_COLUMNS

SUPERVISED, LIKED_ONLY, AUTO_MODE = "supervised", "liked-only", "auto"
TASTE_MODES = (AUTO_MODE, SUPERVISED, LIKED_ONLY)
# The column cleaned_dataset adds: whose row it is.
ROW_ROLE_COLUMN = "row_role"
LISTENER, BACKGROUND = "listener", "background"
# c is estimated from a few dozen held-out tracks: kept away from 0 and 1, where the odds blow up.
LABEL_FREQUENCY_BOUNDS = (0.05, 0.95)


@dataclass(frozen=True)
class DislikeFloor:
    min_disliked_rows: int = 20
    min_disliked_share: float = 0.15


@dataclass(frozen=True)
class TasteMode:
    name: str  # SUPERVISED or LIKED_ONLY
    reason: str
    liked: int
    disliked: int


def choose_taste_mode(labels: pd.Series, requested: str = AUTO_MODE, floor: DislikeFloor = DislikeFloor()) -> TasteMode:
    """The mode for a list with these 0/1 labels. Refuses what cannot be trained: no liked tracks,
    or the supervised mode without any dislikes."""
    if requested not in TASTE_MODES:
        raise ValueError(f"unknown taste mode {requested!r}; choose one of {', '.join(TASTE_MODES)}")
    liked, disliked = int((labels == 1).sum()), int((labels == 0).sum())
    if liked == 0:
        raise ValueError("the list has no liked tracks (liked=1): albumrec learns a taste from what you like")
    rows = liked + disliked
    counted = f"{liked} liked and {disliked} disliked tracks"
    if requested == SUPERVISED:
        if disliked == 0:
            raise ValueError(f"the supervised mode needs disliked tracks and the list has none ({counted}); use auto or liked-only")
        return TasteMode(SUPERVISED, f"asked for in the config ({counted})", liked, disliked)
    if requested == LIKED_ONLY:
        return TasteMode(LIKED_ONLY, f"asked for in the config ({counted})", liked, disliked)
    few = disliked < floor.min_disliked_rows or disliked < floor.min_disliked_share * rows
    if few:
        return TasteMode(
            LIKED_ONLY,
            f"{counted}: under {floor.min_disliked_rows} dislikes or under {floor.min_disliked_share:.0%} of the list, "
            "so the model learns your liked tracks against a background sample of the catalog",
            liked,
            disliked,
        )
    return TasteMode(SUPERVISED, f"{counted}: enough dislikes to learn liked against disliked", liked, disliked)


def background_size(liked: int, ratio: float) -> int:
    return max(1, int(round(liked * ratio)))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def background_sample_sql(features: str, releases: str, tracks: str, labelled: str, size: int, seed: int) -> str:
    """`RAW_TRACK_COLUMNS` rows of a background sample of the catalog (see the module doc).

    `features` is the compacted feature table, `releases` and `tracks` the MusicBrainz tables,
    `labelled` a query with the listener's `recording_id`s. A recording's artist, year and titles
    are those of its earliest appearance, as for the labelled rows (`core.releases.recording_metadata`);
    its artist is the credited artists' ids, so a collaboration is an artist of its own. The order
    is a hash of the seed with the ids: the same catalog and seed give the same sample.
    """
    salt = _literal(f"albumrec-background-{int(seed)}")
    first = "struct_pack(y := coalesce(t.recording_year, 9999), r := t.release_id, m := t.medium_position, p := t.track_position)"
    columns = ", ".join(
        "CAST(s.release_year AS DOUBLE) AS release_year" if column == "release_year"
        else f"s.{column}" if column in ("artist", "release_title", "recording_title")
        else f'f."{column}"'
        for column in RAW_TRACK_COLUMNS
    )
    return f"""
        WITH labelled AS (SELECT recording_id FROM ({labelled})),
        listener_artists AS (
            SELECT DISTINCT unnest(string_split(recording_artist_ids, ';')) AS artist_id
            FROM {tracks} WHERE recording_id IN (SELECT recording_id FROM labelled) AND recording_artist_ids IS NOT NULL
        ),
        placed AS (
            SELECT t.recording_id,
                   arg_min(t.recording_artist_ids, {first}) AS artist_ids,
                   arg_min(t.recording_artist, {first}) AS artist,
                   min(t.recording_year) AS release_year,
                   arg_min(r.album_title, {first}) AS release_title,
                   arg_min(t.recording_title, {first}) AS recording_title
            FROM {tracks} AS t JOIN {releases} AS r ON r.release_id = t.release_id
            WHERE t.recording_id NOT IN (SELECT recording_id FROM labelled) AND t.recording_artist_ids IS NOT NULL
            GROUP BY t.recording_id
        ),
        eligible AS (
            SELECT p.* FROM placed AS p
            WHERE p.recording_id IN (SELECT mbid FROM {features})
              AND NOT list_has_any(string_split(p.artist_ids, ';'),
                                   (SELECT coalesce(list(artist_id), []::VARCHAR[]) FROM listener_artists))
        ),
        ranked AS (
            SELECT *, row_number() OVER (PARTITION BY artist_ids ORDER BY hash({salt} || recording_id)) AS nth,
                   hash({salt} || artist_ids) AS artist_order
            FROM eligible
        ),
        sample AS (SELECT * FROM ranked ORDER BY nth, artist_order, artist_ids LIMIT {int(size)})
        SELECT {columns}, 0::TINYINT AS {LABEL_COLUMN}
        FROM sample AS s JOIN {features} AS f ON f.mbid = s.recording_id
        ORDER BY s.nth, s.artist_order, s.artist_ids
    """


def label_frequency(held_out_liked_probability: np.ndarray) -> float:
    """c: the mean probability of being listed over held-out liked tracks, within `LABEL_FREQUENCY_BOUNDS`."""
    values = np.asarray(held_out_liked_probability, dtype="float64")
    if values.size == 0 or not np.isfinite(values).all():
        raise ValueError("no held-out liked tracks to estimate how the scores are calibrated")
    return float(np.clip(values.mean(), *LABEL_FREQUENCY_BOUNDS))


def liked_probability(listed_probability: np.ndarray, frequency: float) -> np.ndarray:
    """P(liked | x) from g = P(listed | x) and c = `frequency` (see the module doc)."""
    g = np.clip(np.asarray(listed_probability, dtype="float64"), 0.0, 1.0 - 1e-9)
    return np.clip((1.0 - frequency) / frequency * g / (1.0 - g), 0.0, 1.0)


def background_liked_share(frequency: float, liked: int, background: int) -> float:
    """The share of the background the listener would like, as the calibration estimates it:
    pi = n_liked (1 - c) / (n_background c)."""
    return float(min(1.0, liked * (1.0 - frequency) / (max(background, 1) * frequency)))


def recall_at_top(liked_scores: np.ndarray, background_scores: np.ndarray, share: float = 0.01) -> float:
    """The share of liked tracks scoring above the background's top `share` (its 1 - share quantile):
    how many of them a search through that many catalog tracks would find. NaN without both."""
    liked_scores, background_scores = np.asarray(liked_scores), np.asarray(background_scores)
    if liked_scores.size == 0 or background_scores.size == 0:
        return float("nan")
    cut = np.quantile(background_scores, 1.0 - share)
    return float((liked_scores > cut).mean())
