"""Files a user names by path (the liked list, the feedback file, an enriched CSV), read safely.

A path typed into the Launchpad is read by the process that runs the step, with that process's
rights, and whatever goes wrong ends up in the run's stored failure, which everyone with access
to the UI can read. So before a byte is read:

* the path is resolved (symlinks included) and refused when it lies under `/proc`, `/sys` or
  `/dev`: `/proc/self/environ` holds the process's environment, secrets included;
* it must be a regular file (not a folder, a FIFO that would block the run, or a device);
* with `ALBUMREC_INPUT_DIRS` set, it must lie inside one of those folders, unless it is the list
  or feedback file the environment names (the operator's choice, not a Launchpad user's);
* it must be no larger than the size cap (`ALBUMREC_MAX_INPUT_MB`, 64 MB by default): the size
  is taken from the open file, and reading stops one byte past the cap, so a file that grows
  while it is read (or a sparse file of terabytes) cannot exhaust memory either.

Errors name the path and the rule, never the file's contents.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from filelock import FileLock

from albumrec_pipeline.settings import (
    FEEDBACK_CSV,
    INPUT_DIRS,
    INPUT_DIRS_ENV_VAR,
    LIKED_TRACKS_CSV,
    MAX_INPUT_BYTES,
    MAX_INPUT_MB_ENV_VAR,
)

# Pseudo-filesystems whose "files" are the kernel's view of processes and devices, never a list.
SYSTEM_FOLDERS = (Path("/proc"), Path("/sys"), Path("/dev"))
READ_CHUNK_BYTES = 1 << 20


class UserFileError(ValueError):
    """A path a user gave names something albumrec does not read; the message says which rule."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def lock_beside(path: Path) -> FileLock:
    """The lock that commands rewriting the user's file `path` take turns on: `<file>.lock` beside it."""
    return FileLock(path.with_name(path.name + ".lock"))


def is_read_only(path: Path) -> bool:
    """Whether an existing file is marked read-only. A rewrite by rename would replace it all the
    same (the folder allows it), and root ignores the bits: callers refuse it rather than replace it."""
    return path.exists() and (not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222)


def checked_user_path(
    path: str | Path, what: str = "the file", allowed_dirs: tuple[Path, ...] | None = None
) -> Path:
    """The resolved path, once it passes the rules of the module docstring (the size excepted)."""
    given = Path(path).expanduser()
    resolved = given.resolve()
    if any(_inside(resolved, folder) for folder in SYSTEM_FOLDERS):
        raise UserFileError(f"{given}: is a system file (under /proc, /sys or /dev); {what} must be a plain file of yours")
    allowed = INPUT_DIRS if allowed_dirs is None else allowed_dirs
    # The files the environment names (ALBUMREC_LIKED_TRACKS, ALBUMREC_FEEDBACK) are the operator's
    # choice, not a Launchpad user's: they need no allow-listed folder.
    configured = {configured_path.resolve() for configured_path in (LIKED_TRACKS_CSV, FEEDBACK_CSV)}
    if allowed and resolved not in configured and not any(_inside(resolved, folder) for folder in allowed):
        raise UserFileError(
            f"{given}: is outside the folders {INPUT_DIRS_ENV_VAR} allows ({os.pathsep.join(map(str, allowed))}); "
            f"put {what} in one of them"
        )
    if resolved.is_dir():
        raise UserFileError(f"{given}: is a folder; {what} must be a file")
    if not resolved.exists():
        raise UserFileError(f"{given}: no such file")
    if not resolved.is_file():
        raise UserFileError(f"{given}: is not a regular file (a pipe, socket or device); {what} must be a plain file")
    return resolved


def read_user_file(
    path: str | Path,
    what: str = "the file",
    max_bytes: int | None = None,
    allowed_dirs: tuple[Path, ...] | None = None,
) -> bytes:
    """The bytes of a user's file, read in chunks up to the size cap; `UserFileError` when refused."""
    resolved = checked_user_path(path, what, allowed_dirs)
    cap = MAX_INPUT_BYTES if max_bytes is None else max_bytes
    too_large = UserFileError(
        f"{Path(path)}: is larger than {cap / 1e6:g} MB, the most albumrec reads for {what} "
        f"({MAX_INPUT_MB_ENV_VAR} raises the limit)"
    )
    try:
        # O_NONBLOCK: a FIFO swapped in after the checks above must not hang the run on open.
        descriptor = os.open(resolved, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as error:
        raise UserFileError(f"{Path(path)}: cannot be read ({error.strerror or type(error).__name__})") from None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):
            raise UserFileError(f"{Path(path)}: is not a regular file; {what} must be a plain file")
        if status.st_size > cap:
            raise too_large
        chunks, total = [], 0
        while chunk := handle.read(min(READ_CHUNK_BYTES, cap + 1 - total)):
            chunks.append(chunk)
            total += len(chunk)
            if total > cap:
                raise too_large
    return b"".join(chunks)
