"""Documents in the exact shapes of the real sources: AcousticBrainz low-level and high-level
documents (as in the 2022 dumps and the v1 API), MusicBrainz release documents (as WS/2
`release/<id>?inc=recordings+artist-credits+release-groups+genres+tags` returns them and as each
line of the MusicBrainz JSON dump holds them), and the release-group and artist documents of the
dump's `release-group.tar.xz` and `artist.tar.xz`, with their genres and tags.

MusicBrainz genres and tags are written as the WS/2 JSON serializer writes them: `tags` as
`{"count", "name"}` and `genres` (the tags on MusicBrainz's genre list, with the same votes) as
`{"count", "disambiguation", "id", "name"}`, each list sorted by name. In release documents they
sit where real release lookups have them (the release's own lists, and the tags of the artists
of the release's artist credit) and genres carry only `count` and `name`: the release group's and
recordings' lists are left out there, and the release-group archive carries the release groups'.

Only a subset of each real document is produced, to keep the demo world small, but every key
that is present sits at the same path and holds the same kind of value as in real documents.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import numpy as np

# Extractor versions found in real AcousticBrainz documents. These are facts about the
# software that produced the dumps: low-level documents were made by two essentia releases.
LOWLEVEL_VERSIONS: tuple[dict[str, str], ...] = (
    {
        "essentia": "2.1-beta1",
        "essentia_build_sha": "88e390dad3da3739867137981c593af8412fc3e5",
        "essentia_git_sha": "v2.1_beta1-34-gf95df8b",
        "extractor": "music 1.0",
    },
    {
        "essentia": "2.1-beta2",
        "essentia_build_sha": "70f2e5ece6736b2c40cc944ad0e695b16b925413",
        "essentia_git_sha": "v2.1_beta2",
        "extractor": "music 1.0",
    },
)
# Every high-level document was computed by the same gaia/essentia build.
HIGHLEVEL_VERSION: dict[str, str] = {
    "essentia": "2.1-beta1",
    "essentia_build_sha": "8e24b98b71ad84f3024c7541412f02124a26d327",
    "essentia_git_sha": "v2.1_beta1-228-g260734a",
    "extractor": "music 1.0",
    "gaia": "2.4-dev",
    "gaia_git_sha": "857329b",
    "models_essentia_git_sha": "v2.1_beta1",
}

# MusicBrainz's fixed ids for the "Official" release status and the "Album" release-group type.
OFFICIAL_STATUS_ID = "4e304316-386d-3409-af2e-78857eec5cfe"
ALBUM_TYPE_ID = "f529b476-6e62-324f-b0aa-1f3e33d313fc"

# The frame statistics essentia reports for a descriptor that varies over a track.
STATISTIC_KEYS: tuple[str, ...] = ("dmean", "dmean2", "dvar", "dvar2", "max", "mean", "median", "min", "var")


def frame_statistics(mean: np.ndarray, variation: float, rng: np.random.Generator, decimals: int) -> list[dict[str, float]]:
    """Plausible frame statistics around given per-track means (the mean itself is exact).

    `variation` is the typical coefficient of variation of the descriptor across a track's
    frames; the other statistics follow the relations seen in real documents (the median a
    little below the mean, frame-to-frame differences a fraction of the spread, ...).
    """
    n = mean.shape[0]
    spread = np.abs(mean) * variation * np.exp(0.25 * rng.standard_normal(n))
    dmean = spread * (0.12 + 0.05 * rng.random(n))
    table = {
        "mean": mean,
        "median": mean * (0.82 + 0.12 * rng.random(n)),
        "min": mean * (0.02 + 0.12 * rng.random(n)),
        "max": mean + spread * (4.0 + 6.0 * rng.random(n)),
        "var": spread**2,
        "dmean": dmean,
        "dmean2": dmean * (1.5 + 0.2 * rng.random(n)),
        "dvar": (spread * 0.23) ** 2,
        "dvar2": (spread * 0.35) ** 2,
    }
    columns = {key: np.round(table[key], decimals).tolist() for key in STATISTIC_KEYS}
    return [{key: columns[key][index] for key in STATISTIC_KEYS} for index in range(n)]


def lowlevel_document(
    *,
    tonal: dict[str, Any],
    rhythm: dict[str, Any],
    lowlevel: dict[str, Any],
    audio_properties: dict[str, Any],
    tags: dict[str, Any],
    version: dict[str, str],
) -> dict[str, Any]:
    return {
        "lowlevel": lowlevel,
        "metadata": {"audio_properties": audio_properties, "tags": tags, "version": version},
        "rhythm": rhythm,
        "tonal": tonal,
    }


def highlevel_document(
    *,
    models: dict[str, tuple[tuple[str, ...], list[float]]],
    audio_properties: dict[str, Any],
    tags: dict[str, Any],
    lowlevel_version: dict[str, str],
) -> dict[str, Any]:
    """`models`: model -> (classes, probabilities); `value`/`probability` are the most likely class."""
    highlevel = {}
    for model, (classes, probabilities) in models.items():
        best = max(range(len(classes)), key=probabilities.__getitem__)
        highlevel[model] = {
            "all": dict(zip(classes, probabilities)),
            "probability": probabilities[best],
            "value": classes[best],
            "version": HIGHLEVEL_VERSION,
        }
    # The high-level service stores `lossless` as an integer, the low-level one as a boolean.
    properties = {**audio_properties, "lossless": int(audio_properties["lossless"])}
    return {
        "highlevel": highlevel,
        "metadata": {
            "audio_properties": properties,
            "tags": tags,
            "version": {"highlevel": HIGHLEVEL_VERSION, "lowlevel": lowlevel_version},
        },
    }


def genre_id(name: str) -> str:
    """A made-up genre id: a version-8 UUID (MusicBrainz mints version 4), stable per name."""
    number = int.from_bytes(hashlib.sha256(f"albumrec demo genre {name}".encode()).digest()[:16], "big")
    return str(uuid.UUID(int=(number & ~(0xF << 76) & ~(0x3 << 62)) | (8 << 76) | (0x2 << 62)))


def tag_lists(
    votes: list[tuple[str, int]], genres: frozenset[str], full_genres: bool = True
) -> dict[str, list[dict[str, Any]]]:
    """`genres` and `tags` of an entity from its (name, votes): every name is a tag, those in `genres`
    also a genre. `full_genres=False` writes genres as `{"count", "name"}` only."""
    ordered = sorted(votes)
    return {
        "genres": [
            {"count": count, "disambiguation": "", "id": genre_id(name), "name": name}
            if full_genres
            else {"count": count, "name": name}
            for name, count in ordered
            if name in genres
        ],
        "tags": [{"count": count, "name": name} for name, count in ordered],
    }


def artist_credit(
    artist_id: str, name: str, sort_name: str, tags: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A one-artist credit; `tags` given, the artist object carries them (as at the artist's first
    credit in a release document)."""
    artist: dict[str, Any] = {"disambiguation": "", "id": artist_id, "name": name, "sort-name": sort_name}
    if tags is not None:
        artist["tags"] = tags
    return [{"artist": artist, "joinphrase": "", "name": name}]


def artist_document(
    *, artist_id: str, name: str, sort_name: str, tags: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """A line of the JSON dump's `mbdump/artist`."""
    return {
        "aliases": [],
        "annotation": None,
        "disambiguation": "",
        **tags,
        "id": artist_id,
        "life-span": {"begin": None, "end": None, "ended": False},
        "name": name,
        "rating": {"value": None, "votes-count": 0},
        "relations": [],
        "sort-name": sort_name,
        "type": None,
        "type-id": None,
    }


def release_group_document(
    *,
    release_group_id: str,
    title: str,
    first_release_date: str,
    credit: list[dict[str, Any]],
    tags: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """A line of the JSON dump's `mbdump/release-group`."""
    return {
        "aliases": [],
        "annotation": None,
        "artist-credit": credit,
        "disambiguation": "",
        "first-release-date": first_release_date,
        **tags,
        "id": release_group_id,
        "primary-type": "Album",
        "primary-type-id": ALBUM_TYPE_ID,
        "rating": {"value": None, "votes-count": 0},
        "relations": [],
        "secondary-type-ids": [],
        "secondary-types": [],
        "title": title,
    }


def release_document(
    *,
    release_id: str,
    title: str,
    date: str,
    country: str,
    credit: list[dict[str, Any]],
    release_group_id: str,
    media: list[dict[str, Any]],
    tags: dict[str, list[dict[str, Any]]] | None = None,
    group_credit: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`credit`: the release's (its artists may carry tags); `group_credit`: the release group's and
    the tracks' (default `credit`), where the serializer leaves out the tags of artists the
    release's credit already names."""
    return {
        "artist-credit": credit,
        "country": country,
        "date": date,
        "disambiguation": "",
        **(tags or {"genres": [], "tags": []}),
        "id": release_id,
        "media": media,
        "quality": "normal",
        "release-group": {
            "artist-credit": group_credit or credit,
            "disambiguation": "",
            "first-release-date": date,
            "id": release_group_id,
            "primary-type": "Album",
            "primary-type-id": ALBUM_TYPE_ID,
            "secondary-type-ids": [],
            "secondary-types": [],
            "title": title,
        },
        "status": "Official",
        "status-id": OFFICIAL_STATUS_ID,
        "text-representation": {"language": "eng", "script": "Latn"},
        "title": title,
    }


def medium(position: int, media_format: str, track_offset: int, tracks: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": media_format,
        "position": position,
        "title": "",
        "track-count": len(tracks),
        "track-offset": track_offset,
        "tracks": tracks,
    }


def release_track(
    *,
    track_id: str,
    position: int,
    recording_id: str,
    title: str,
    length_ms: int,
    first_release_date: str,
    credit: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "artist-credit": credit,
        "id": track_id,
        "length": length_ms,
        "number": str(position),
        "position": position,
        "recording": {
            "artist-credit": credit,
            "disambiguation": "",
            "first-release-date": first_release_date,
            "id": recording_id,
            "length": length_ms,
            "title": title,
            "video": False,
        },
        "title": title,
    }
