"""What each column of albumrec's tables holds, for the column schema the Dagster UI shows.

One dictionary for every table: a column name means the same wherever it appears, so it is
described once. The feature columns are described from the feature catalogue in
`feature_columns.py` (and named in words by `feature_labels.py`), so a feature added there is
described here too.
"""

from __future__ import annotations

from albumrec_pipeline.core.feature_columns import (
    CATEGORICAL_VOCABULARIES,
    CONFIDENCE_MODELS,
    DANCEABLE_COLUMN,
    LOWLEVEL_SCALARS,
    MFCC_COLUMNS,
    MULTICLASS_MODELS,
)
from albumrec_pipeline.core.feature_labels import feature_label

_LOWLEVEL_UNITS: dict[str, str] = {
    "chords_changes_rate": "share of analysis frames where the chord changes",
    "chords_number_rate": "share of distinct chords among the chords detected",
    "bpm": "beats per minute",
    "beats_count": "beats detected in the whole track",
    "average_loudness": "0 (quiet) to 1 (loud), Essentia's average loudness",
    "dynamic_complexity": "average deviation from the global loudness, in dB",
    "duration": "seconds",
    "spectral_centroid": "mean over the track, in Hz",
    "spectral_rolloff": "mean over the track, in Hz",
    "spectral_flux": "mean over the track",
}


def _feature_descriptions() -> dict[str, str]:
    described = {
        DANCEABLE_COLUMN: "AcousticBrainz high-level: probability (0-1) that the track is danceable.",
    }
    for model, classes in MULTICLASS_MODELS.items():
        for value in classes:
            column = f"{model}_{value}"
            described[column] = (
                f"AcousticBrainz high-level: probability (0-1) of {feature_label(column)}; "
                f"the classes of `{model}` add up to 1."
            )
    for model in CONFIDENCE_MODELS:
        described[model] = (
            f"AcousticBrainz high-level: {feature_label(model)}: the `{model}` classifier's confidence in the "
            "answer it gave (0.5-1), whichever answer that was."
        )
    for column in LOWLEVEL_SCALARS:
        described[column] = f"AcousticBrainz low-level: {feature_label(column)} ({_LOWLEVEL_UNITS[column]})."
    for column in MFCC_COLUMNS:
        number = column.removeprefix("mfcc_")
        described[column] = (
            f"AcousticBrainz low-level: mean of mel-frequency cepstral coefficient {number} over the track, "
            "one of 13 numbers that sketch the timbre."
        )
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        described[column] = f"AcousticBrainz low-level: {feature_label(column)} ({', '.join(vocabulary)})."
        for value in vocabulary:
            one_hot = f"{column}_{value}"
            described[one_hot] = f"1 when the track's {feature_label(column)} is {value}, else 0 ({feature_label(one_hot)})."
    return described


COLUMN_DESCRIPTIONS: dict[str, str] = {
    # Identifiers and MusicBrainz metadata
    "mbid": "MusicBrainz recording id (lower-case UUID).",
    "recording_id": "MusicBrainz recording id (lower-case UUID).",
    "release_id": "MusicBrainz release id: one edition of an album.",
    "release_group_id": "MusicBrainz release-group id: the album across all its editions.",
    "album_id": "The album's identity: its release-group id, else its release id.",
    "album_title": "Title of the release (album).",
    "album_artist": "Artist credit of the release, as MusicBrainz writes it.",
    "album_artist_ids": "MusicBrainz artist ids of the release's credit, ';'-separated, in credit order.",
    "recording_artist": "Artist credit of the track.",
    "recording_artist_ids": "MusicBrainz artist ids of the track's credit, ';'-separated, in credit order.",
    "recording_year": "Year of the release the track is on (its release date, else the release group's first).",
    "release_date": "Release date as MusicBrainz has it (YYYY, YYYY-MM or YYYY-MM-DD).",
    "release_year": "Year of first release: the release group's earliest for albums, the recording's release for tracks.",
    "release_group_year": "Year of the release group's first release.",
    "status": "Release status (Official, Promotion, Bootleg, Pseudo-Release).",
    "primary_type": "Release-group primary type (Album, EP, Single, ...).",
    "secondary_types": "Release-group secondary types, ';'-separated (Compilation, Live, Remix, ...); empty when none.",
    "medium_position": "Disc number of the track within the release.",
    "track_position": "Track number within its disc.",
    "track_kind": "audio, pregap (the hidden track before track 1) or data (video or software, left out of the album search).",
    "submission_offset": "Which AcousticBrainz submission of the recording this is (0 = first); the lowest one is used.",
    "artist": "Artist of the track (AcousticBrainz tag or MusicBrainz credit).",
    "genre": "Genre tag of the submitted file, if it had one (not a classifier output).",
    "label": "In track tables: the record label tag of the submitted file. In feature reports: the feature in words.",
    "release_title": "Title of the release the track was tagged with.",
    "recording_title": "Title of the track.",
    # MusicBrainz tags and genres: names lower-case, ';', '=' and '|' removed; votes are editors' votes
    "musicbrainz_tags": "MusicBrainz tags and genres of the recording's releases, their release groups and the "
    "recording's credited artists, as name=votes;name=votes (votes summed over those entities, most first, then "
    "by name); empty when none.",
    "release_tags": "MusicBrainz tags and genres of the release itself, as name=votes;name=votes; empty when none.",
    "release_group_tags": "MusicBrainz tags and genres of the release's release group as the release document "
    "carries them, as name=votes;name=votes; empty when none.",
    "artist_tags": "MusicBrainz tags and genres of the artists the release document credits, one block per artist: "
    "artist_id:name=votes;name=votes|artist_id:...; empty when none.",
    "recording_tags": "MusicBrainz tags and genres of the recording itself, as name=votes;name=votes; empty when none.",
    "artist_id": "MusicBrainz artist id.",
    "tag": "A MusicBrainz tag or genre, lower-case (a genre is a tag on MusicBrainz's genre list).",
    "votes": "How many MusicBrainz editors gave the entity this tag.",
    # The listener's list and the training table
    "liked": "The listener's label: 1 liked, 0 disliked.",
    "split": "train, validation (early stopping) or test (held-out artists); every artist is in one only.",
    "release_year_imputed": "True when the track had no release year and the training years' middle stands in.",
    "row_role": "listener: a track of your list; background: a catalog track the liked-only mode learns your liked tracks against.",
    # Scaler and reports
    "feature": "Feature column name (a model input before scaling and encoding).",
    "data_min": "Smallest value of the feature in the training split.",
    "data_max": "Largest value of the feature in the training split.",
    "data_mean": "Mean of the feature in the training split.",
    "method": "Input scaling method (minmax, standard, quantile, piecewise:<bins>).",
    "group": "Feature family: genre, mood_and_style (classifiers), acoustic (measured), metadata (year).",
    "mean_abs_weight": "Mean absolute weight leaving this feature's inputs in the first layer (summed over its bins).",
    "normalized_importance": "The feature's share of the first layer's total mean |weight| (all features sum to 1).",
    # Training history
    "epoch": "Training pass over the training rows (1 = first).",
    "epoch_train_loss": "Mean weighted training loss over the epoch's batches (with dropout on).",
    "train_loss": "Log loss on the training rows after the epoch (dropout off).",
    "train_accuracy": "Accuracy on the training rows after the epoch (threshold 0.5).",
    "validation_loss": "Log loss on the validation artists after the epoch; early stopping watches it.",
    "validation_accuracy": "Accuracy on the validation artists after the epoch (threshold 0.5).",
    "validation_roc_auc": "ROC-AUC on the validation artists after the epoch.",
    "phase": "early_stopping (choosing the epochs) or refit (retraining on train + validation for that many).",
    "member": "Which network of the ensemble (0 = first).",
    # Cross-validation summary
    "model": "Model evaluated: network (as configured), original_network, logistic_regression or hist_gradient_boosting.",
    "grouping": "How folds were drawn: artist (no artist in both train and test) or recording.",
    "rows": "Rows scored out of fold.",
    "accuracy": "Share of out-of-fold rows classified right at probability 0.5.",
    "roc_auc": "Out-of-fold ROC-AUC: chance that a liked track scores above a disliked one (0.5 = guessing).",
    "log_loss": "Out-of-fold log loss (lower is better; 0.693 = always saying 0.5).",
    "precision": "Of the tracks predicted liked, the share the listener liked.",
    "recall": "Of the tracks the listener liked, the share predicted liked.",
    "fold_auc_mean": "Mean of the per-fold ROC-AUC.",
    "fold_auc_std": "Standard deviation of the per-fold ROC-AUC.",
    "artist_pooling": "Weight w of artist pooling in these figures: each track's score is (1-w) * its own + w * the "
    "mean of its artist's tracks in the same fold (0: the tracks' own scores).",
    "own_accuracy": "Accuracy of each track's own score, before artist pooling.",
    "own_roc_auc": "ROC-AUC of each track's own score, before artist pooling.",
    # Scores and the ranking
    "like_probability": "The network's probability (0-1) that the listener likes the track.",
    "rank": "Position, 1 first: albums best recommended first; features most important first.",
    "tracks": "Tracks on the album's representative release.",
    "tracks_with_features": "Of those, tracks with the AcousticBrainz features the network reads (scored).",
    "feature_coverage": "tracks_with_features / tracks.",
    "predicted_liked_tracks": "Scored tracks the network predicts liked (like_probability at or above liked_song_threshold).",
    "predicted_liked_share": "predicted_liked_tracks / tracks_with_features; the album is recommended when it "
    "reaches album_recommendation_threshold.",
    "mean_score": "Mean like_probability of the album's scored tracks.",
    "recommended": "True when the album meets every threshold (predicted liked share, length, feature coverage).",
    "releases_in_group": "Editions of the album (releases in its release group) among the candidates.",
    # Explanations
    "lifted_by": "Features that raised the album's tracks' scores most, in words, with their mean lift of the "
    "like-logit (gradient x input against an average training track).",
    "lifting_features": "The same features as lifted_by, by column name.",
    "genres": "The MusicBrainz genres most of the album's tracks are tagged with, and on how many of its tracks "
    "(from the file tags and MusicBrainz tags).",
    "sounds_like": "Liked training tracks nearest to the album's average track in the network's input space.",
    "nearest_distance": "Distance from the album's average track to the nearest liked training track (scaled inputs).",
    # Playlist
    "position": "Place of the track in the playlist, 1 first.",
    "album_rank": "The album's rank in the ranking it was taken from.",
    "track_number": "Place of the track within its album, counted across discs.",
    # Dated history
    "recommended_on": "Day of the search (the partition), in the listener's time zone.",
    "first_recommended_on": "First day the album was recommended (this day when new).",
    "times_recommended_before": "Earlier days on which the album was recommended.",
    "is_new": "True when the album was not recommended on any earlier day.",
    **_feature_descriptions(),
}


def column_description(name: str) -> str | None:
    return COLUMN_DESCRIPTIONS.get(name)
