"""The listener's feedback on recommendations, and what the sensor watches.

Feedback lives in its own CSV (`mbid,liked`, recording ids, the same format as the liked list)
so the listener's original list is never rewritten. `albumrec feedback <album or recording id>
--liked/--disliked` resolves an album to its tracks and records them; the file can also be
edited by hand (needed for recordings that are not among the last search's candidates, such as
tracks of the list itself). Each recording appears once in the file; marking it again replaces
its label. The command rewrites the file with the `mbid,liked` columns only, holding
`<file>.lock` (left beside it, empty) meanwhile so that commands run at once all keep their marks.

When the list and the feedback disagree about a recording, the feedback wins: it is the
listener's later word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from upath import UPath

from albumrec_pipeline.core.liked_tracks import LikedTracksError, read_liked_tracks
from albumrec_pipeline.core.user_files import is_read_only, lock_beside
from albumrec_pipeline.storage.atomic import atomic_write_bytes

FEEDBACK_COLUMNS = ["mbid", "liked"]
# The sensor fingerprints the inputs every few seconds; a list of any size must not be held in memory whole.
FINGERPRINT_CHUNK_BYTES = 1 << 20


class FeedbackNotWritableError(OSError):
    """The feedback file cannot be written; the message names it and says why."""


def read_feedback(path: str | Path) -> pd.DataFrame:
    """The feedback rows (`mbid`, `liked`), empty when the file does not exist yet."""
    if not Path(path).exists():
        return pd.DataFrame({"mbid": pd.Series(dtype="str"), "liked": pd.Series(dtype="int8")})
    # A header alone (what remains when every mark is deleted by hand) is no feedback yet.
    return read_liked_tracks(path, only_adds=True)


@dataclass(frozen=True)
class FeedbackMerge:
    table: pd.DataFrame  # mbid, liked: the list with the feedback applied
    added: int           # recordings only the feedback names
    relabelled: int      # recordings whose label the feedback changed


def apply_feedback(liked: pd.DataFrame, feedback: pd.DataFrame) -> FeedbackMerge:
    """The list with the feedback applied: new recordings appended, disagreements settled by the feedback."""
    before = liked.set_index("mbid")["liked"]
    after = feedback.set_index("mbid")["liked"]
    shared = before.index.intersection(after.index)
    relabelled = int((before.loc[shared] != after.loc[shared]).sum())
    added = int((~after.index.isin(before.index)).sum())
    table = pd.concat([liked[~liked["mbid"].isin(after.index)], feedback], ignore_index=True)
    table = table.astype({"mbid": "str", "liked": "int8"})[FEEDBACK_COLUMNS]
    if not (table["liked"] == 1).any():
        raise LikedTracksError(
            "with the feedback applied, no recording is liked; albumrec learns a taste from what you like"
        )
    return FeedbackMerge(table, added, relabelled)


def record_feedback(path: str | Path, recording_ids: list[str], liked: bool) -> pd.DataFrame:
    """Mark recordings liked or disliked in the feedback file (created when missing); returns the file's rows.

    The file is replaced in one rename, so a crash leaves the previous version. Writers take turns
    on a lock file beside it: without it, two marking at once both read the old file and the
    second rename drops the first one's marks. Raises FeedbackNotWritableError when the file or
    its folder cannot be written.
    """
    path = Path(path)
    lock = lock_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as error:
        raise _not_writable(path, error) from error
    try:
        if is_read_only(path):
            raise FeedbackNotWritableError(f"{path} cannot be written: it is read-only")
        current = read_feedback(path)
        marked = pd.DataFrame({"mbid": [mbid.strip().lower() for mbid in recording_ids], "liked": int(liked)})
        table = pd.concat([current[~current["mbid"].isin(marked["mbid"])], marked], ignore_index=True)
        table = table.drop_duplicates("mbid", keep="last").astype({"liked": "int8"})
        try:
            atomic_write_bytes(UPath(path), table.to_csv(index=False).encode())
        except OSError as error:
            raise _not_writable(path, error) from error
    finally:
        lock.release()
    return table


def _not_writable(path: Path, error: OSError) -> FeedbackNotWritableError:
    reason = error.strerror or str(error)
    # The failing path may be the folder, the lock file or the temporary file rather than the file itself.
    if error.filename and str(error.filename) != str(path):
        reason += f": {error.filename}"
    return FeedbackNotWritableError(f"{path} cannot be written: {reason}")


def album_recordings(
    tracklists: pd.DataFrame, album_or_recording_id: str, ranked_releases: dict[str, str] | None = None
) -> tuple[str, pd.DataFrame]:
    """What an id names in candidate tracklists: ("album", its tracks) for a release group or release id,
    ("recording", its rows) for a recording id. Raises LookupError when the id is not there.

    A release group is marked by one edition: the release the ranking judged it on
    (`ranked_releases`, group id -> release id), else the first listed.
    """
    wanted = album_or_recording_id.strip().lower()
    for column, kind in (("release_group_id", "album"), ("release_id", "album"), ("recording_id", "recording")):
        rows = tracklists[tracklists[column].astype("str") == wanted]
        if not rows.empty:
            if kind == "album" and column == "release_group_id":
                edition = (ranked_releases or {}).get(wanted)
                if edition not in set(rows["release_id"]):
                    edition = rows["release_id"].iloc[0]
                rows = rows[rows["release_id"] == edition]
            return kind, rows
    raise LookupError(
        f"{album_or_recording_id} is not a release group, release or recording among the last album search's "
        "candidates; use an id from album_recommendations (release_group_id or release_id) or a recording id"
    )


def input_fingerprint(*paths: str | Path) -> str:
    """SHA-256 over the files' contents (a missing file counts as empty): changes exactly when a byte does."""
    digest = hashlib.sha256()
    for path in paths:
        path = Path(path)
        digest.update(str(path).encode() + b"\0")
        if path.is_file():
            with open(path, "rb") as handle:
                while chunk := handle.read(FINGERPRINT_CHUNK_BYTES):
                    digest.update(chunk)
        digest.update(b"\0\0")
    return digest.hexdigest()
