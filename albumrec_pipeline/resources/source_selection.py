"""Where the labelled tracks' features and metadata come from, chosen by `ALBUMREC_SOURCE`.

- `catalog` (default; `demo` and `dump` mean the same): the catalog tables ingested from the
  dump archives (the demo world's, or the real 2022 dumps named by `ALBUMREC_ACOUSTICBRAINZ_DUMPS`
  and `ALBUMREC_MUSICBRAINZ_DUMPS`), so labelled tracks and candidate albums share one source.
- `live`: the MusicBrainz and AcousticBrainz web services. `ALBUMREC_CONTACT` (an email address or
  URL) goes into the User-Agent, as MusicBrainz requires; `ALBUMREC_MUSICBRAINZ_URL` and
  `ALBUMREC_ACOUSTICBRAINZ_URL` point at a mirror instead of the public servers.

Every kind fills the same two resource keys, so `raw_track_features` runs unchanged on any.

The album search reads only the catalog tables. With `live`, the live services add to them: the
ingest assets get one more partition, `live-search` (`LIVE_PARTITION`), next to the dump
archives', in which `musicbrainz_archive` stores the albums the MusicBrainz search finds and
`acousticbrainz_archive` their tracks' AcousticBrainz documents. The other kinds have no such
partition, so a catalog built from dumps alone looks exactly as it did.
"""

from __future__ import annotations

import dagster as dg

from albumrec_pipeline.resources.acousticbrainz_api import AcousticBrainzApiSource
from albumrec_pipeline.resources.feature_sources import IngestedReleaseCatalog, IngestedTrackFeatures
from albumrec_pipeline.resources.http_client import CONTACT_ENV_VAR
from albumrec_pipeline.resources.musicbrainz_api import MusicBrainzApiCatalog
from albumrec_pipeline.settings import (
    ACOUSTICBRAINZ_URL_ENV_VAR,
    CATALOG_KINDS,
    MUSICBRAINZ_URL_ENV_VAR,
    SOURCE_ENV_VAR,
    SOURCE_KINDS,
    WAREHOUSE_DIR,
    read_service_url,
    read_source,
    setting,
)

# The partition of the catalog tables that the live services fill. An archive of the same name
# would fail the code location's load (partition keys are unique) rather than be mixed in.
LIVE_PARTITION = "live-search"
# The Dagster pool of every asset that can call MusicBrainz or AcousticBrainz.
LIVE_SERVICES_POOL = "live_services"


def source_kind() -> str:
    """The kind named by `ALBUMREC_SOURCE`, `catalog` when it is not set."""
    # Read when the definitions are built, by the same check that vetted it on import.
    return read_source()


def live_partitions(kind: str) -> list[str]:
    """The partition keys the source kind adds to the ingest assets' archive partitions."""
    return [LIVE_PARTITION] if kind.strip().lower() == "live" else []


def source_resources(kind: str, warehouse: str = str(WAREHOUSE_DIR)) -> dict[str, dg.ConfigurableResource]:
    """The `track_features` and `release_catalog` resources for a source kind (see the module doc)."""
    kind = kind.strip().lower()
    if kind in CATALOG_KINDS:
        return {
            "track_features": IngestedTrackFeatures(warehouse=warehouse),
            "release_catalog": IngestedReleaseCatalog(warehouse=warehouse),
        }
    if kind == "live":
        # Without a contact the resources still load, so the rest of the code location stays usable;
        # the first MusicBrainz call then stops with a message naming ALBUMREC_CONTACT.
        # An EnvVar, resolved at run time: the UI and the run's config show the name, never the value.
        contact = dg.EnvVar(CONTACT_ENV_VAR) if setting(CONTACT_ENV_VAR) else ""
        # The checked values themselves (blanks trimmed): a server's address is no secret.
        acousticbrainz_url = read_service_url(ACOUSTICBRAINZ_URL_ENV_VAR)
        musicbrainz_url = read_service_url(MUSICBRAINZ_URL_ENV_VAR)
        acousticbrainz = AcousticBrainzApiSource(
            contact=contact, **({"base_url": acousticbrainz_url} if acousticbrainz_url else {})
        )
        catalog = MusicBrainzApiCatalog(
            acousticbrainz=acousticbrainz, contact=contact, **({"base_url": musicbrainz_url} if musicbrainz_url else {})
        )
        return {"track_features": acousticbrainz, "release_catalog": catalog}
    raise ValueError(f"{SOURCE_ENV_VAR}={kind!r} is not a source kind; use one of {', '.join(SOURCE_KINDS)}")
