"""The original project's enriched CSV as a feature source.

Users of the original notebook have `liked_and_disliked_tracks_with_acoustic_and_music_brainz_
features.csv`: one row per AcousticBrainz submission with the columns of `RAW_TRACK_COLUMNS`
and `liked`. albumrec reads it as it reads AcousticBrainz documents and MusicBrainz metadata.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from albumrec_pipeline.core.feature_columns import CATEGORICAL_VOCABULARIES, NUMERIC_AUDIO_COLUMNS, RAW_TRACK_COLUMNS
from albumrec_pipeline.core.user_files import UserFileError, read_user_file

METADATA_COLUMNS = ["mbid", "artist", "release_year", "release_title", "recording_title"]


class EnrichedCsvError(ValueError):
    """The file is not in the enriched-CSV format; the message says what differs."""


def read_enriched_csv(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(audio rows, MusicBrainz metadata), both keyed by `mbid`, in the shapes the sources return.

    Audio rows keep every submission (the cleaning step chooses among them); metadata keeps
    the first row of each recording.
    """
    path = Path(path)
    try:
        # A Launchpad path: the same rules as for the liked list (see core.user_files).
        data = read_user_file(path, "the enriched CSV")
    except UserFileError as error:
        raise EnrichedCsvError(str(error)) from None
    try:
        frame = pd.read_csv(io.BytesIO(data), encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        # pandas' message can quote the text it choked on: name the problem, not the text.
        raise EnrichedCsvError(f"{path}: is not a readable UTF-8 CSV file") from None
    missing = [column for column in RAW_TRACK_COLUMNS if column not in frame.columns]
    if missing:
        raise EnrichedCsvError(f"{path}: not an enriched CSV, {len(missing)} column(s) missing, e.g. {missing[:6]}")
    frame["mbid"] = frame["mbid"].astype("str").str.strip().str.lower()
    for column in NUMERIC_AUDIO_COLUMNS + ["release_year"]:
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column, vocabulary in CATEGORICAL_VOCABULARIES.items():
        # An unknown key is as good as a missing one: the cleaning step drops the row and counts it.
        frame[column] = frame[column].where(frame[column].isin(vocabulary))
    audio = frame[[column for column in RAW_TRACK_COLUMNS if column not in METADATA_COLUMNS[2:]]]
    metadata = frame[METADATA_COLUMNS].drop_duplicates("mbid").reset_index(drop=True)
    metadata["release_year"] = metadata["release_year"].astype("Float64")
    return audio.reset_index(drop=True), metadata
