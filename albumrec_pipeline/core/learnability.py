"""Whether a list can teach a taste: enough recordings with features, from enough artists.

A model trained on a handful of tracks, or on two artists a side, learns the artists and not
the taste, and its ranking is noise dressed as advice. These floors stop the pipeline before
training, and say what to do in the listener's words.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from albumrec_pipeline.core.feature_columns import LABEL_COLUMN


@dataclass(frozen=True)
class LearnabilityFloors:
    min_recordings: int = 60  # labelled recordings with AcousticBrainz features
    min_artists_per_label: int = 5  # artists among the liked, and among the disliked, ones
    min_found_share: float = 0.5  # of the listed recordings, the share that have features


@dataclass(frozen=True)
class Learnability:
    listed: int
    found: int
    liked_artists: int
    disliked_artists: int
    problems: tuple[str, ...]

    @property
    def found_share(self) -> float:
        return self.found / self.listed if self.listed else 0.0


def learnability(
    listed: pd.DataFrame, found: pd.DataFrame, floors: LearnabilityFloors, liked_only: bool = False
) -> Learnability:
    """Judge `found` (raw_track_features: rows with features, `mbid`, `artist`, `liked`, possibly
    several submissions per recording) against the list it came from (`listed`: `mbid`, `liked`).
    `liked_only`: the list is learned against a catalog background, so its dislikes need no floor."""
    recordings = found.drop_duplicates("mbid")
    listed_count, found_count = int(listed["mbid"].nunique()), len(recordings)
    artists = {
        label: int(recordings.loc[recordings[LABEL_COLUMN] == label, "artist"].dropna().nunique()) for label in (0, 1)
    }
    have = f"{found_count:,} of your {listed_count:,} recordings have AcousticBrainz features"
    problems = []
    if listed_count and found_count / listed_count < floors.min_found_share:
        problems.append(
            f"{have} ({found_count / listed_count:.0%}; at least {floors.min_found_share:.0%} are needed): check that "
            "the ids are MusicBrainz recording ids (not release or track ids), and list recordings AcousticBrainz "
            "analysed"
        )
    if found_count < floors.min_recordings:
        problems.append(
            f"add {'liked' if liked_only else 'liked and disliked'} tracks from more artists; {have}, and a model needs at least "
            f"{floors.min_recordings}"
        )
    if liked_only and artists[1] < floors.min_artists_per_label:
        problems.append(
            f"your liked tracks with features come from {artists[1]} artist(s); add liked tracks by more artists "
            f"(at least {floors.min_artists_per_label}), or the model learns who the artists are rather than what "
            "you like"
        )
    elif not liked_only and min(artists.values()) < floors.min_artists_per_label:
        problems.append(
            f"your liked tracks with features come from {artists[1]} artist(s) and your disliked ones from "
            f"{artists[0]}; add tracks by more artists (at least {floors.min_artists_per_label} on each side), "
            "or the model learns who the artists are rather than what you like"
        )
    return Learnability(listed_count, found_count, artists[1], artists[0], tuple(problems))
