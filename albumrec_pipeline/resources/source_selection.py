"""Which outside sources the pipeline reads, chosen by the `ALBUMREC_SOURCE` environment variable.

- `demo` (default): the embedded demo world, in the dump layouts.
- `dump`: AcousticBrainz and MusicBrainz data dumps unpacked on this machine; their locations come
  from `ALBUMREC_ACOUSTICBRAINZ_DUMP` (folder holding lowlevel/ and highlevel/) and
  `ALBUMREC_MUSICBRAINZ_RELEASES` (the release file, one JSON document per line).
- `live`: the MusicBrainz and AcousticBrainz web services. `ALBUMREC_CONTACT` (an email address or
  URL) goes into the User-Agent, as MusicBrainz requires; `ALBUMREC_MUSICBRAINZ_URL` and
  `ALBUMREC_ACOUSTICBRAINZ_URL` point at a mirror instead of the public servers.

Every kind fills the same two resource keys, so the assets run unchanged on any of them.
"""

from __future__ import annotations

import os

import dagster as dg

from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.feature_sources import AcousticBrainzDumpSource, MusicBrainzReleaseDump
from albumrec_pipeline.resources.http_client import CONTACT_ENV_VAR
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog

SOURCE_ENV_VAR = "ALBUMREC_SOURCE"
SOURCE_KINDS = ("demo", "dump", "live")
ACOUSTICBRAINZ_DUMP_ENV_VAR = "ALBUMREC_ACOUSTICBRAINZ_DUMP"
MUSICBRAINZ_RELEASES_ENV_VAR = "ALBUMREC_MUSICBRAINZ_RELEASES"
MUSICBRAINZ_URL_ENV_VAR = "ALBUMREC_MUSICBRAINZ_URL"
ACOUSTICBRAINZ_URL_ENV_VAR = "ALBUMREC_ACOUSTICBRAINZ_URL"


def source_kind() -> str:
    """The kind named by `ALBUMREC_SOURCE`, `demo` when it is not set."""
    return os.environ.get(SOURCE_ENV_VAR, "demo").strip().lower() or "demo"


def _env_var(name: str) -> dg.EnvVar | None:
    """An EnvVar for a variable that is set (the Dagster UI then shows where the value comes from)."""
    return dg.EnvVar(name) if os.environ.get(name, "").strip() else None


def source_resources(kind: str) -> dict[str, dg.ConfigurableResource]:
    """The `track_features` and `release_catalog` resources for a source kind (see the module doc)."""
    kind = kind.strip().lower()
    if kind == "demo":
        return {"track_features": AcousticBrainzDumpSource(), "release_catalog": MusicBrainzReleaseDump()}
    if kind == "dump":
        unset = [
            name for name in (ACOUSTICBRAINZ_DUMP_ENV_VAR, MUSICBRAINZ_RELEASES_ENV_VAR) if not os.environ.get(name)
        ]
        if unset:
            raise ValueError(
                f"{SOURCE_ENV_VAR}=dump reads the data dumps from disk: set {' and '.join(unset)} "
                f"({ACOUSTICBRAINZ_DUMP_ENV_VAR}: the folder holding lowlevel/ and highlevel/; "
                f"{MUSICBRAINZ_RELEASES_ENV_VAR}: the unpacked mbdump/release file)"
            )
        return {
            "track_features": AcousticBrainzDumpSource(root=dg.EnvVar(ACOUSTICBRAINZ_DUMP_ENV_VAR)),
            "release_catalog": MusicBrainzReleaseDump(releases_path=dg.EnvVar(MUSICBRAINZ_RELEASES_ENV_VAR)),
        }
    if kind == "live":
        # Without a contact the resources still load, so the rest of the code location stays usable;
        # the first MusicBrainz call then stops with a message naming ALBUMREC_CONTACT.
        contact = _env_var(CONTACT_ENV_VAR) or ""
        acousticbrainz_url, musicbrainz_url = _env_var(ACOUSTICBRAINZ_URL_ENV_VAR), _env_var(MUSICBRAINZ_URL_ENV_VAR)
        acousticbrainz = AcousticBrainzApiSource(
            contact=contact, **({"base_url": acousticbrainz_url} if acousticbrainz_url else {})
        )
        catalog = MusicBrainzApiCatalog(
            acousticbrainz=acousticbrainz, contact=contact, **({"base_url": musicbrainz_url} if musicbrainz_url else {})
        )
        return {"track_features": acousticbrainz, "release_catalog": catalog}
    raise ValueError(f"{SOURCE_ENV_VAR}={kind!r} is not a source kind; use one of {', '.join(SOURCE_KINDS)}")
