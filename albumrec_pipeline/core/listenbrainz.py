"""A listener's taste from ListenBrainz: loved and hated recordings as an `mbid,liked` list.

ListenBrainz keeps one feedback row per recording the user loved (score 1) or hated (score -1),
whether it comes from the API (`GET /1/feedback/user/<user>/get-feedback`, newest first, paged)
or from the data export a user downloads (`feedback.jsonl` in the export zip, one JSON object a
line, oldest first; ListenBrainz leaves the file out when there is no feedback). Both carry the
same fields: `recording_mbid`, `recording_msid`, `score` and `created` (Unix seconds).

What becomes of a row:

* loved -> liked=1, hated -> liked=0, keyed by the MusicBrainz recording id, lower-cased;
* a row with an MSID (MessyBrainz id) but no MBID is counted and left out: an MSID names what a
  player once submitted, not a MusicBrainz recording, and guessing the recording would teach the
  model something the listener never said;
* a recording with several rows keeps its newest one (the listener's latest word); when two rows
  of the same moment disagree, the recording is left out and counted, for the same reason.

Writing: a new list (`mbid,liked`, oldest feedback first), or a merge into the listener's own
list, where a recording the list already holds keeps the list's label. A merge appends rows to
the list as it is, so its other columns, notes, line endings and order stay untouched. Every
write is atomic, and what is written passes `read_liked_tracks`: a list of loved recordings only
is written (albumrec learns it in the liked-only mode), a list of hated ones only is refused with
what to do instead, since a taste is learned from what you love.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from upath import UPath

from albumrec_pipeline.core.liked_tracks import (
    LikedTracksError,
    parse_liked_tracks,
    validate_liked_tracks,
)
from albumrec_pipeline.core.mbids import MBID_PATTERN
from albumrec_pipeline.core.user_files import (
    UserFileError,
    checked_user_path,
    is_read_only,
    lock_beside,
    read_user_file,
)
from albumrec_pipeline.settings import MAX_INPUT_BYTES, MAX_INPUT_MB_ENV_VAR
from albumrec_pipeline.storage.atomic import atomic_write_bytes

LOVED, HATED = 1, -1
LABELS = {LOVED: 1, HATED: 0}
# The files of a ListenBrainz user export that this reads, at the root of the zip.
EXPORT_FEEDBACK = "feedback.jsonl"
EXPORT_USER = "user.json"
_USER_JSON_MOST_BYTES = 1 << 20


class ListenBrainzDataError(ValueError):
    """Feedback that is not shaped as ListenBrainz writes it; the message says where."""


class ListenBrainzImportError(ValueError):
    """The import cannot give a usable list; the message says why and what to do."""


@dataclass(frozen=True)
class FeedbackRow:
    recording_mbid: str | None
    recording_msid: str | None
    score: int
    created: float | None


def _uuid_or_none(item: Mapping[str, Any], key: str, where: str) -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(MBID_PATTERN, value.strip().lower()):
        raise ListenBrainzDataError(f"{where}: '{key}' is not a UUID")
    return value.strip().lower()


def feedback_row(item: Any, where: str) -> FeedbackRow:
    """One feedback object of the API or the export, checked; `where` names it in errors."""
    if not isinstance(item, dict):
        raise ListenBrainzDataError(f"{where}: a feedback entry is a {type(item).__name__}, not an object")
    score = item.get("score")
    # bool is an int in Python; `true` is no score.
    if isinstance(score, bool) or score not in (LOVED, HATED):
        raise ListenBrainzDataError(f"{where}: 'score' is {score!r}, not 1 (loved) or -1 (hated)")
    mbid = _uuid_or_none(item, "recording_mbid", where)
    msid = _uuid_or_none(item, "recording_msid", where)
    if mbid is None and msid is None:
        raise ListenBrainzDataError(f"{where}: names no recording (neither 'recording_mbid' nor 'recording_msid')")
    created = item.get("created")
    if created is not None and (isinstance(created, bool) or not isinstance(created, int | float)):
        raise ListenBrainzDataError(f"{where}: 'created' is not a Unix time")
    return FeedbackRow(mbid, msid, int(score), None if created is None else float(created))


@dataclass(frozen=True)
class ImportedFeedback:
    table: pd.DataFrame  # mbid (str), liked (int8): one row per recording, oldest feedback first
    msid_only: int  # rows with an MSID and no MBID, left out
    superseded: int  # older rows about a recording that has a newer one
    undecided: int  # recordings loved and hated at the same moment, left out

    @property
    def loved(self) -> int:
        return int((self.table["liked"] == 1).sum())

    @property
    def hated(self) -> int:
        return int((self.table["liked"] == 0).sum())


def imported_feedback(rows: Iterable[FeedbackRow]) -> ImportedFeedback:
    """The list table of feedback rows, in any order (see the module docstring for the rules)."""
    rows = list(rows)
    with_mbid = [row for row in rows if row.recording_mbid is not None]
    by_recording: dict[str, list[FeedbackRow]] = {}
    for row in with_mbid:
        by_recording.setdefault(row.recording_mbid, []).append(row)

    def moment(row: FeedbackRow) -> float:
        # A row without a time counts as the oldest: any dated row is a later word.
        return -float("inf") if row.created is None else row.created

    kept: list[tuple[float, str, int]] = []
    undecided = 0
    for mbid, group in by_recording.items():
        newest = max(moment(row) for row in group)
        latest = {row.score for row in group if moment(row) == newest}
        if len(latest) > 1:
            undecided += 1
            continue
        kept.append((newest, mbid, LABELS[latest.pop()]))
    kept.sort()
    table = pd.DataFrame(
        {"mbid": pd.Series([mbid for _, mbid, _ in kept], dtype="str"),
         "liked": pd.Series([label for _, _, label in kept], dtype="int8")}
    )
    return ImportedFeedback(
        table=table,
        msid_only=len(rows) - len(with_mbid),
        superseded=len(with_mbid) - len(by_recording),
        undecided=undecided,
    )


def list_csv(table: pd.DataFrame) -> bytes:
    """An `mbid,liked` file of the table."""
    lines = ["mbid,liked", *(f"{mbid},{int(liked)}" for mbid, liked in zip(table["mbid"], table["liked"], strict=True))]
    return ("\n".join(lines) + "\n").encode()


# --- merging into the listener's list -----------------------------------------------------------


@dataclass(frozen=True)
class MergedList:
    payload: bytes
    kept: int  # recordings of the existing list, all kept as they were
    added: pd.DataFrame  # the imported rows appended
    already_listed: int  # imported recordings the list holds already: the list's label stays
    differing: int  # of those, labelled otherwise on ListenBrainz


def _newline_of(text: str) -> str:
    if "\r\n" in text:
        return "\r\n"
    if "\r" in text:
        return "\r"
    return "\n"


def merge_into_list(existing_bytes: bytes, existing: pd.DataFrame, imported: pd.DataFrame, source: str) -> MergedList:
    """The listener's list (its bytes, and as `read_liked_tracks` read them) with the imported
    recordings it lacks appended; a recording it holds keeps its label."""
    text = existing_bytes.decode("utf-8-sig")
    header = next((row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row), [])
    names = [name.strip().lower() for name in header]
    listed = existing.set_index("mbid")["liked"]
    known = imported["mbid"].isin(listed.index).to_numpy()
    added = imported.loc[~known].reset_index(drop=True)
    shared = imported.loc[known]
    differing = int((listed.loc[shared["mbid"]].to_numpy() != shared["liked"].to_numpy()).sum())
    combined = pd.concat([existing[["mbid", "liked"]], added], ignore_index=True)
    validate_liked_tracks(combined.astype({"liked": "str"}), source=f"{source} with the import merged in")

    newline = _newline_of(text)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    mbid_at, liked_at = names.index("mbid"), names.index("liked")
    for mbid, liked in zip(added["mbid"], added["liked"], strict=True):
        fields = [""] * len(names)
        fields[mbid_at], fields[liked_at] = mbid, str(int(liked))
        writer.writerow(fields)
    prefix = existing_bytes
    if prefix and not prefix.endswith((b"\n", b"\r")):
        prefix += newline.encode()
    return MergedList(prefix + out.getvalue().encode(), len(existing), added, len(shared), differing)


# --- reading a ListenBrainz export --------------------------------------------------------------


@dataclass(frozen=True)
class ExportFeedback:
    user: str | None  # the export's user name, from user.json
    rows: list[FeedbackRow]
    has_feedback_file: bool


def _member_bytes(archive: zipfile.ZipFile, name: str, path: Path, most: int) -> bytes:
    info = archive.getinfo(name)
    too_large = ListenBrainzDataError(
        f"{path}: {name} holds more than {most / 1e6:g} MB, the most albumrec reads ({MAX_INPUT_MB_ENV_VAR} raises it)"
    )
    if info.file_size > most:
        raise too_large
    with archive.open(info) as handle:
        # The size in the directory can lie; never decompress past the cap.
        data = handle.read(most + 1)
    if len(data) > most:
        raise too_large
    return data


def read_export(path: str | Path, max_bytes: int | None = None) -> ExportFeedback:
    """The feedback of a ListenBrainz user export zip (see the module docstring)."""
    path = Path(path)
    cap = MAX_INPUT_BYTES if max_bytes is None else max_bytes
    try:
        # An export holds every listen and can be far larger than the feedback in it: zipfile reads
        # only the directory and the members asked for. The command runs as the listener, on a file
        # of theirs, so ALBUMREC_INPUT_DIRS (the Launchpad's guard) does not apply.
        resolved = checked_user_path(path, "the ListenBrainz export zip", allowed_dirs=())
        archive = zipfile.ZipFile(resolved)
    except UserFileError as error:
        raise ListenBrainzDataError(str(error)) from None
    except (zipfile.BadZipFile, OSError) as error:
        raise ListenBrainzDataError(
            f"{path}: is not a zip file ({type(error).__name__}); give the .zip ListenBrainz made for you "
            "at https://listenbrainz.org/settings/export/"
        ) from None
    with archive:
        names = set(archive.namelist())
        try:
            user = None
            if EXPORT_USER in names:
                document = json.loads(_member_bytes(archive, EXPORT_USER, path, _USER_JSON_MOST_BYTES))
                user = document.get("username") if isinstance(document, dict) else None
                user = user if isinstance(user, str) and user.strip() else None
            if EXPORT_FEEDBACK not in names:
                if EXPORT_USER not in names:
                    raise ListenBrainzDataError(
                        f"{path}: is not a ListenBrainz export: it holds neither {EXPORT_USER} nor {EXPORT_FEEDBACK} "
                        "at its top level"
                    )
                return ExportFeedback(user, [], has_feedback_file=False)
            data = _member_bytes(archive, EXPORT_FEEDBACK, path, cap)
        except ListenBrainzDataError:
            raise
        # A bad CRC or stream, a cut-off member, an unreadable user.json (a ValueError), an unknown
        # compression method or a password (NotImplementedError, RuntimeError). No error repeats the
        # file's contents.
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, RuntimeError) as error:
            raise ListenBrainzDataError(f"{path}: is damaged or not a ListenBrainz export ({type(error).__name__})") from None
    rows = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ListenBrainzDataError(f"{path}: {EXPORT_FEEDBACK} line {line} is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: {EXPORT_FEEDBACK} line {number}"
        try:
            item = json.loads(line)
        except ValueError:
            raise ListenBrainzDataError(f"{where} is not a JSON object") from None
        rows.append(feedback_row(item, where))
    return ExportFeedback(user, rows, has_feedback_file=True)


# --- writing ------------------------------------------------------------------------------------


def default_output(data_dir: Path, user: str) -> Path:
    """`<data dir>/listenbrainz_<user>.csv`, with anything but letters, digits, `.`, `-` and `_` as `_`."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", user).strip(".") or "user"
    return data_dir / f"listenbrainz_{safe}.csv"


def _counted(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _label_counts(table: pd.DataFrame) -> str:
    return f"{int((table['liked'] == 1).sum())} liked, {int((table['liked'] == 0).sum())} disliked"


def describe_import(imported: ImportedFeedback, who: str) -> str:
    """The first line a command prints: what the feedback held."""
    line = (
        f"{who}: {imported.loved} loved, {imported.hated} hated, {imported.msid_only} MSID-only skipped"
        + (" (no MusicBrainz recording id; link those listens to MusicBrainz on ListenBrainz to import them)"
           if imported.msid_only else "")
    )
    if imported.superseded:
        line += f"; {_counted(imported.superseded, 'older feedback row', 'older feedback rows')} replaced by newer ones"
    if imported.undecided:
        line += f"; {_counted(imported.undecided, 'recording', 'recordings')} loved and hated at the same moment left out"
    return line


def _refuse_unusable(imported: ImportedFeedback, who: str) -> None:
    if imported.table.empty:
        skipped = f" ({imported.msid_only} MSID-only rows skipped: they name no MusicBrainz recording)" if imported.msid_only else ""
        raise ListenBrainzImportError(f"no loved or hated recordings for {who}{skipped}; nothing written")


def _writable(path: Path) -> None:
    if is_read_only(path):
        raise ListenBrainzImportError(f"{path} cannot be written: it is read-only")


def write_new_list(imported: ImportedFeedback, who: str, output: Path) -> str:
    """Write the imported list to `output` (replacing it); the lines to print."""
    _refuse_unusable(imported, who)
    if not imported.loved:
        raise ListenBrainzImportError(
            f"{who} has {len(imported.table)} hated and no loved recordings, and albumrec learns a taste from what "
            "you love; love some tracks on ListenBrainz, or merge these into a list that has liked tracks "
            "(--merge-into PATH); nothing written"
        )
    validate_liked_tracks(imported.table.astype({"liked": "str"}), source=str(output))
    _writable(output)
    replaced = output.exists()
    atomic_write_bytes(UPath(output), list_csv(imported.table))
    verb = "replaced" if replaced else "wrote"
    return f"{verb} {output}: {_counted(len(imported.table), 'recording', 'recordings')} ({_label_counts(imported.table)})"


def merge_into_file(imported: ImportedFeedback, who: str, target: Path, output: Path | None = None) -> str:
    """Merge the import into the list at `target`, written back to it (or to `output`); the lines to print.

    Commands merging into the same list take turns on `<list>.lock` beside it, so that neither
    writes over the other's rows.
    """
    _refuse_unusable(imported, who)
    destination = output or target
    lock = lock_beside(target)
    try:
        lock.acquire()
    except OSError as error:
        raise ListenBrainzImportError(f"{target} cannot be merged into: {error.strerror or error}") from None
    try:
        if not target.exists():
            raise ListenBrainzImportError(
                f"{target}: no such list to merge into; leave out --merge-into to write a new list"
            )
        try:
            # The listener's own command, run with their rights: ALBUMREC_INPUT_DIRS, which guards the
            # Launchpad, does not apply (as for the export zip).
            existing_bytes = read_user_file(target, "the 'mbid,liked' CSV", allowed_dirs=())
        except UserFileError as error:
            raise LikedTracksError(str(error)) from None
        # One label, or none yet, is fine before the merge; the merged list must have both. The
        # bytes read above are parsed, so the list merged is the list checked.
        existing = parse_liked_tracks(target, existing_bytes, only_adds=True)
        merged = merge_into_list(existing_bytes, existing, imported.table, str(destination))
        if merged.added.empty and destination == target:
            wrote = f"nothing to add to {target}"
        else:
            _writable(destination)
            atomic_write_bytes(UPath(destination), merged.payload)
            into = f"merged {target} into {destination}" if destination != target else f"merged into {destination}"
            wrote = f"{into}: added {_counted(len(merged.added), 'recording', 'recordings')} ({_label_counts(merged.added)})"
    finally:
        lock.release()
    differing = f", {merged.differing} of them labelled otherwise on ListenBrainz" if merged.differing else ""
    listed = (
        f"{_counted(merged.already_listed, 'imported recording was', 'imported recordings were')} listed already and "
        f"{'keeps' if merged.already_listed == 1 else 'keep'} the list's label"
    )
    return f"{wrote}; kept {_counted(merged.kept, 'recording', 'recordings')} from the existing list; {listed}{differing}"
