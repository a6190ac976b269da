"""A deterministic, seeded demo world that stands in for AcousticBrainz and MusicBrainz.

The world has artists with a consistent style, albums and tracks, one listener's labelled
tracks, and thousands of albums the listener has not labelled. It is written to disk as the
real sources' dump archives, so the whole pipeline, ingest included, runs on it without any
network (see `dump_writer` for the exact files):

    <root>/acousticbrainz/acousticbrainz-lowlevel-json-demo-<n>.tar.zst    JSON dumps, a few archives
    <root>/acousticbrainz/acousticbrainz-highlevel-json-demo-<n>.tar.zst   per kind, in submission order
    <root>/acousticbrainz/acousticbrainz-lowlevel-features-demo-<csv>.tar.zst   CSV feature dumps
    <root>/musicbrainz/release.tar.xz     the MusicBrainz JSON dump's release archive (mbdump/release)
    <root>/musicbrainz/release-group.tar.xz   ... its release groups (mbdump/release-group) and
    <root>/musicbrainz/artist.tar.xz          artists (mbdump/artist), with their genres and tags
    <root>/liked_tracks.csv               the listener's list: mbid,liked
    <root>/demo_world.json                written last: the spec of the complete world

How the world hangs together:

* Each artist has a latent style (a point on the axes of `audio_model.AXES`); an album varies
  it a little and each track a little more. Audio features are noisy read-outs of the track's
  style, calibrated to the marginal distributions of real AcousticBrainz tracks.
* A hidden taste function of the style (plus something about each artist that the audio does
  not show) gives each track a probability of being liked; labels are drawn from it. Because
  style is mostly the artist's, labels are nearly pure per artist, as in real listening lists,
  yet taste is partly predictable from audio for artists the listener never labelled.
* The labelled tracks sit on their own releases, which hold nothing else; the candidate albums
  (the other albums of labelled artists and the albums of unlabelled artists) hold no labelled
  recording. Some candidate tracks lack one or both AcousticBrainz documents, like real data.
* MusicBrainz tags with votes: most artists carry their genre (the one nearest their style) and
  often a narrower one, under half of the albums carry the genre of their own sound, few
  releases any (see `_musicbrainz_tags`). Since the taste follows the style, so do the tags.
* As in the real dumps, recordings were analysed more than once: every analysed recording has a
  second submission (offset 1, made later, so usually in a later archive), whose tempo is off by
  an octave, the commonest disagreement between analyses; and some albums were reissued (a
  second release in the same release group, holding the same recordings).

The hidden truth (taste probabilities, sampled likes for every recording) is only available in
memory via `build_demo_world`, for tests; it is never written under the root.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from albumrec_pipeline.core.feature_columns import MFCC_COUNT
from albumrec_pipeline.demo import dump_writer
from albumrec_pipeline.demo import source_documents as docs
from albumrec_pipeline.demo.audio_model import (
    AXES,
    AXIS_INDEX,
    STYLE_AXES,
    AudioFeatures,
    from_score,
    generate_audio_features,
)
from albumrec_pipeline.demo.names import NameMaker
from albumrec_pipeline.demo.reference_figures import (
    REFERENCE_MISSING_GENRE_TAG_SHARE,
    REFERENCE_MISSING_LABEL_TAG_SHARE,
)

# Bump when the generator changes what it writes, so an old world on disk is rebuilt.
GENERATOR_VERSION = 5
MARKER_FILE_NAME = "demo_world.json"

# How a track's style splits between artist, album and the track itself (variances sum to 1,
# so every style axis is standard normal across tracks, which the calibration assumes).
ARTIST_SHARE, ALBUM_SHARE, TRACK_SHARE = 0.60, 0.15, 0.25
# The era axis: how far an album's release year strays from the artist's period.
ALBUM_ERA_SHARE = 0.15


@dataclass(frozen=True)
class DemoWorldSpec:
    """Everything that determines a demo world; equal specs give identical worlds."""

    seed: int = 2022
    artists: int = 420
    labelled_artists: int = 180  # artists with at least one labelled track
    labelled_tracks: int = 1500
    candidate_albums: int = 2000  # releases holding no labelled recording
    max_labelled_tracks_per_artist: int = 40
    album_tracks: tuple[int, int] = (6, 16)  # track count range of a full album
    ep_tracks: tuple[int, int] = (3, 5)  # ... and of a short release
    ep_share: float = 0.12
    # Share of an ordinary candidate album's tracks that lack one or both AcousticBrainz documents.
    missing_documents_share: float = 0.08
    # Share of candidate albums of which most tracks were never analysed.
    sparse_album_share: float = 0.03
    # Share of the listener's labelled recordings that AcousticBrainz has no documents for.
    labelled_without_documents_share: float = 0.02
    # Share of analysed recordings with a second submission (offset 1). The real dumps hold about
    # four submissions per recording, spread over every archive; two per recording give the demo
    # catalog that shape (the compacted feature table halves it) for little more ingest time.
    resubmission_share: float = 1.0
    # Share of candidate albums with a reissue in the same release group.
    reissue_share: float = 0.05
    # Dump archives per kind of JSON dump (low-level, high-level).
    archives_per_kind: int = 3

    def __post_init__(self) -> None:
        if not 0 < self.labelled_artists <= self.artists:
            raise ValueError("labelled_artists must be between 1 and artists")
        if not self.labelled_artists <= self.labelled_tracks <= self.labelled_artists * self.max_labelled_tracks_per_artist:
            raise ValueError("labelled_tracks must allow 1..max_labelled_tracks_per_artist tracks per labelled artist")
        if self.candidate_albums < 1:
            raise ValueError("candidate_albums must be positive")
        for low, high in (self.album_tracks, self.ep_tracks):
            if not 1 <= low <= high:
                raise ValueError("track count ranges must be 1 <= low <= high")
        if self.archives_per_kind < 1:
            raise ValueError("archives_per_kind must be positive")
        shares = (
            self.ep_share,
            self.missing_documents_share,
            self.sparse_album_share,
            self.labelled_without_documents_share,
            self.resubmission_share,
            self.reissue_share,
        )
        if not all(0.0 <= share <= 1.0 for share in shares):
            raise ValueError("shares must be between 0 and 1")

    @classmethod
    def small(cls, seed: int = 2022) -> DemoWorldSpec:
        """A world that builds and writes in about a second, for tests and quick looks."""
        return cls(
            seed=seed, artists=40, labelled_artists=24, labelled_tracks=400, candidate_albums=150, archives_per_kind=2
        )

    def as_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


@dataclass
class DemoWorld:
    """A built world. Treat the documents as read-only: they share sub-objects (version blocks,
    tags, artist credits) the way a JSON serialiser does not care about but a mutator would."""

    spec: DemoWorldSpec
    lowlevel_documents: dict[str, dict] = field(repr=False)  # recording mbid -> low-level document (offset 0)
    highlevel_documents: dict[str, dict] = field(repr=False)  # recording mbid -> high-level document (offset 0)
    releases: list[dict] = field(repr=False)  # MusicBrainz release documents, reissues included
    liked_tracks: pd.DataFrame = field(repr=False)  # mbid (str), liked (0/1): the listener's list
    # The hidden taste, for tests only: one row per recording, labelled or not, with columns
    # recording_id, artist_id, artist, release_id, is_labelled, true_like_probability, liked
    # (drawn from that probability), release_year, has_lowlevel, has_highlevel.
    truth: pd.DataFrame = field(repr=False)
    # Second submissions (offset 1) of the recordings, by kind: mbid -> document.
    resubmissions: dict[str, dict[str, dict]] = field(default_factory=dict, repr=False)
    # The lines of the MusicBrainz dump's `mbdump/artist` and `mbdump/release-group`, with genres and tags.
    artists: list[dict] = field(default_factory=list, repr=False)
    release_groups: list[dict] = field(default_factory=list, repr=False)

    @property
    def candidate_release_ids(self) -> set[str]:
        labelled = set(self.truth.loc[self.truth["is_labelled"], "release_id"])
        return {release["id"] for release in self.releases} - labelled

    def summary(self) -> dict[str, Any]:
        return {
            "artists": int(self.truth["artist_id"].nunique()),
            "labelled_tracks": len(self.liked_tracks),
            "liked_share": round(float(self.liked_tracks["liked"].mean()), 4),
            "releases": len(self.releases),
            "candidate_albums": len(self.candidate_release_ids),
            "recordings": len(self.truth),
            "lowlevel_documents": len(self.lowlevel_documents),
            "highlevel_documents": len(self.highlevel_documents),
            "resubmitted_documents": sum(len(documents) for documents in self.resubmissions.values()),
        }


@dataclass(frozen=True)
class DemoWorldPaths:
    root: Path
    acousticbrainz_dumps: Path  # folder of AcousticBrainz dump archives (JSON and CSV)
    musicbrainz_dumps: Path  # folder holding the MusicBrainz release.tar.xz, release-group.tar.xz, artist.tar.xz
    liked_tracks_path: Path  # mbid,liked

    @property
    def marker_path(self) -> Path:
        return self.root / MARKER_FILE_NAME

    @property
    def release_archive(self) -> Path:
        return self.musicbrainz_dumps / "release.tar.xz"

    @property
    def release_group_archive(self) -> Path:
        return self.musicbrainz_dumps / "release-group.tar.xz"

    @property
    def artist_archive(self) -> Path:
        return self.musicbrainz_dumps / "artist.tar.xz"


def demo_world_paths(root: Path | str) -> DemoWorldPaths:
    root = Path(root)
    return DemoWorldPaths(
        root=root,
        acousticbrainz_dumps=root / "acousticbrainz",
        musicbrainz_dumps=root / "musicbrainz",
        liked_tracks_path=root / "liked_tracks.csv",
    )


# ---------------------------------------------------------------------------------------------
# Building the world in memory
# ---------------------------------------------------------------------------------------------


def _seeded_uuids(rng: np.random.Generator, count: int) -> list[str]:
    """Random-looking but reproducible version-4 UUIDs."""
    raw = rng.bytes(16 * count)
    return [str(uuid.UUID(int=int.from_bytes(raw[16 * i : 16 * i + 16], "big"), version=4)) for i in range(count)]


def _made_up_album_ids(rng: np.random.Generator, count: int) -> list[str]:
    """Release-group ids marked as made up: version 8 where MusicBrainz's are version 4, so that
    albumrec shows no Cover Art Archive thumbnail or MusicBrainz link for the demo's albums
    (`albumrec_pipeline.core.albums.is_made_up_id`). The random draws are those of
    `_seeded_uuids`, so every other id of the world stays as it was."""
    return [str(uuid.UUID(int=(uuid.UUID(made).int & ~(0xF << 76)) | (8 << 76))) for made in _seeded_uuids(rng, count)]


def _labelled_track_counts(spec: DemoWorldSpec, rng: np.random.Generator) -> np.ndarray:
    """Tracks per labelled artist: a long tail (a few artists the listener knows well), summing exactly."""
    weights = rng.lognormal(0.0, 0.9, spec.labelled_artists)
    counts = np.clip(np.floor(weights / weights.sum() * spec.labelled_tracks), 1, spec.max_labelled_tracks_per_artist)
    counts = counts.astype(int)
    while (difference := spec.labelled_tracks - counts.sum()) != 0:
        step = 1 if difference > 0 else -1
        room = counts < spec.max_labelled_tracks_per_artist if step > 0 else counts > 1
        candidates = np.flatnonzero(room)
        chosen = rng.choice(candidates, size=min(abs(difference), len(candidates)), replace=False)
        counts[chosen] += step
    return counts


def _album_sizes(spec: DemoWorldSpec, rng: np.random.Generator, count: int) -> np.ndarray:
    short = rng.random(count) < spec.ep_share
    low, high = spec.album_tracks
    # Full albums cluster around the middle of the range, as real track counts do.
    full = np.rint(low + (high - low) * rng.beta(2.2, 2.2, count)).astype(int)
    ep = rng.integers(spec.ep_tracks[0], spec.ep_tracks[1] + 1, count)
    return np.where(short, ep, full)


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


# Genre tags: an artist carries the genre whose prototype style is nearest to its own.
_GENRE_PROTOTYPES: dict[str, dict[str, float]] = {
    "Rock": {"energy": 1.0, "acoustic": -0.3},
    "Pop": {"mood": 1.0, "electronic": 0.3},
    "Country": {"acoustic": 0.8, "urban": -0.7},
    "Hip-Hop": {"urban": 1.3},
    "Folk": {"acoustic": 1.2, "energy": -0.5},
    "Electronic": {"electronic": 1.3},
    "Jazz": {"acoustic": 0.8, "bright": -0.5, "urban": 0.3},
    "Rhythm & Blues": {"urban": 0.8, "mood": 0.3},
    "Blues": {"acoustic": 0.5, "tempo": -0.6},
    "Alternative Rock": {"energy": 0.8, "mood": -0.5},
    "Indie Rock": {"energy": 0.5, "bright": 0.5},
    "Ambient": {"electronic": 0.8, "energy": -1.0},
    "Soul": {"urban": 0.6, "mood": -0.4},
    "Singer-Songwriter": {"acoustic": 1.0, "mood": -0.6},
    "Metal": {"energy": 1.6},
    "Americana": {"acoustic": 0.6, "urban": -0.5, "tempo": 0.3},
    "Funk": {"urban": 0.6, "tempo": 0.6, "mood": 0.3},
}


def _genres_by_distance(style: np.ndarray) -> np.ndarray:
    """For each style, the genres' indices (into `_GENRE_PROTOTYPES`), nearest prototype first."""
    prototypes = np.zeros((len(_GENRE_PROTOTYPES), len(STYLE_AXES)))
    for row, loadings in enumerate(_GENRE_PROTOTYPES.values()):
        for axis, value in loadings.items():
            prototypes[row, AXIS_INDEX[axis]] = value
    distances = ((style[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=2)
    return distances.argsort(axis=1, kind="stable")


def _nearest_genre(style: np.ndarray) -> np.ndarray:
    return np.array(list(_GENRE_PROTOTYPES))[_genres_by_distance(style)[:, 0]]


# MusicBrainz tags. Each demo genre's name on MusicBrainz's genre list, and narrower genres its
# artists are often tagged with too, each leaning to one end of a style axis (a hard rock band is
# more energetic than a blues rock one), so the narrower tag says a little more about the sound.
_MUSICBRAINZ_GENRES: dict[str, tuple[str, dict[str, tuple[str, float]]]] = {
    "Rock": ("rock", {"classic rock": ("tempo", -1), "hard rock": ("energy", 1), "blues rock": ("acoustic", 1)}),
    "Pop": ("pop", {"synth-pop": ("electronic", 1), "dance-pop": ("tempo", 1), "indie pop": ("bright", 1)}),
    "Country": ("country", {"country rock": ("energy", 1), "honky tonk": ("tempo", 1), "outlaw country": ("mood", -1)}),
    "Hip-Hop": ("hip hop", {"boom bap": ("acoustic", 1), "jazz rap": ("mood", 1), "gangsta rap": ("energy", 1)}),
    "Folk": ("folk", {"contemporary folk": ("bright", 1), "indie folk": ("mood", -1), "folk rock": ("energy", 1)}),
    "Electronic": ("electronic", {"house": ("tempo", 1), "techno": ("energy", 1), "idm": ("mood", -1)}),
    "Jazz": ("jazz", {"hard bop": ("energy", 1), "cool jazz": ("energy", -1), "bebop": ("tempo", 1)}),
    "Rhythm & Blues": ("r&b", {"contemporary r&b": ("electronic", 1), "new jack swing": ("tempo", 1), "soul": ("acoustic", 1)}),
    "Blues": ("blues", {"electric blues": ("energy", 1), "chicago blues": ("urban", 1), "delta blues": ("acoustic", 1)}),
    "Alternative Rock": ("alternative rock", {"grunge": ("energy", 1), "indie rock": ("bright", 1), "post-punk": ("mood", -1)}),
    "Indie Rock": ("indie rock", {"indie pop": ("mood", 1), "dream pop": ("energy", -1), "shoegaze": ("electronic", 1)}),
    "Ambient": ("ambient", {"dark ambient": ("mood", -1), "drone": ("tempo", -1), "downtempo": ("urban", 1)}),
    "Soul": ("soul", {"southern soul": ("acoustic", 1), "northern soul": ("tempo", 1), "motown": ("mood", 1)}),
    "Singer-Songwriter": ("singer-songwriter", {"contemporary folk": ("bright", 1), "folk": ("acoustic", 1), "chamber pop": ("mood", 1)}),
    "Metal": ("metal", {"heavy metal": ("tempo", -1), "thrash metal": ("tempo", 1), "doom metal": ("mood", -1)}),
    "Americana": ("americana", {"alternative country": ("mood", -1), "folk rock": ("energy", 1), "country rock": ("tempo", 1)}),
    "Funk": ("funk", {"p-funk": ("electronic", 1), "disco": ("tempo", 1), "soul": ("mood", -1)}),
}
MUSICBRAINZ_GENRE_NAMES: frozenset[str] = frozenset(
    name for main, narrower in _MUSICBRAINZ_GENRES.values() for name in (main, *narrower)
)


def _narrower_genre(genre: str, style: np.ndarray, rng: np.random.Generator) -> str:
    """The narrower genre of `genre` whose lean the style matches best (with some editors' noise)."""
    narrower = _MUSICBRAINZ_GENRES[genre][1]
    fit = [sign * style[AXIS_INDEX[axis]] + 0.5 * rng.standard_normal() for axis, sign in narrower.values()]
    return list(narrower)[int(np.argmax(fit))]


_OTHER_TAGS: tuple[str, ...] = ("seen live", "british", "american", "favorites")
# Shares of entities with any tag: most artists, under half of the albums, few single releases.
ARTIST_TAGGED_SHARE, RELEASE_GROUP_TAGGED_SHARE, RELEASE_TAGGED_SHARE = 0.75, 0.45, 0.05


@dataclass(frozen=True)
class MusicBrainzTags:
    """(name, votes) per artist, per album's release group and per album's first release."""

    artists: list[list[tuple[str, int]]]
    release_groups: list[list[tuple[str, int]]]
    releases: list[list[tuple[str, int]]]


def _add_vote(votes: dict[str, int], name: str, count: int) -> None:
    votes[name] = max(votes.get(name, 0), max(1, int(count)))


def _musicbrainz_tags(
    artist_style: np.ndarray, album_style: np.ndarray, album_artist: np.ndarray, rng: np.random.Generator
) -> MusicBrainzTags:
    """Tags with votes, as MusicBrainz editors leave them: an artist is tagged with its genre (the
    prototype nearest its style), often the narrower genre of it its style leans to, sometimes its
    next-nearest genre and a tag that is no genre; better-known artists have more votes. An album is tagged with the
    genre nearest its own sound (the artist's varied by the album's), sometimes also its artist's.
    Some entities have no tags at all. The tags follow the style, as the listener's taste does, so
    they carry some of that taste, as real tags do."""
    genres = list(_GENRE_PROTOTYPES)
    artist_order = _genres_by_distance(artist_style)
    album_mix = math.sqrt(ARTIST_SHARE) * artist_style[album_artist] + math.sqrt(ALBUM_SHARE) * album_style
    album_order = _genres_by_distance(album_mix / math.sqrt(ARTIST_SHARE + ALBUM_SHARE))
    artists = []
    for artist, order in enumerate(artist_order):
        votes: dict[str, int] = {}
        if rng.random() < ARTIST_TAGGED_SHARE:
            fame = rng.lognormal(0.0, 0.8)
            main = _MUSICBRAINZ_GENRES[genres[order[0]]][0]
            top = min(40, max(1, round(fame * rng.uniform(2.0, 6.0))))
            _add_vote(votes, main, top)
            if rng.random() < 0.55:
                narrower_genre = _narrower_genre(genres[order[0]], artist_style[artist], rng)
                _add_vote(votes, narrower_genre, round(top * rng.uniform(0.2, 0.8)))
            if rng.random() < 0.35:
                _add_vote(votes, _MUSICBRAINZ_GENRES[genres[order[1]]][0], round(top * rng.uniform(0.1, 0.5)))
            if rng.random() < 0.2:
                _add_vote(votes, _OTHER_TAGS[int(rng.integers(len(_OTHER_TAGS)))], int(rng.integers(1, 3)))
        artists.append(sorted(votes.items()))
    groups, releases = [], []
    for album, order in enumerate(album_order):
        votes = {}
        main = _MUSICBRAINZ_GENRES[genres[order[0]]][0]
        if rng.random() < RELEASE_GROUP_TAGGED_SHARE:
            _add_vote(votes, main, 1 + rng.poisson(1.5))
            artist_main = _MUSICBRAINZ_GENRES[genres[artist_order[album_artist[album]][0]]][0]
            if artist_main != main and rng.random() < 0.4:
                _add_vote(votes, artist_main, int(rng.integers(1, 3)))
            if rng.random() < 0.2:
                _add_vote(votes, _narrower_genre(genres[order[0]], album_mix[album], rng), 1)
        groups.append(sorted(votes.items()))
        releases.append([(main, 1)] if rng.random() < RELEASE_TAGGED_SHARE else [])
    return MusicBrainzTags(artists, groups, releases)


def taste_score(latent: np.ndarray) -> np.ndarray:
    """The listener's hidden taste for tracks of the given latent style (higher = likes more).

    They like acoustic, unhurried music and dislike loud electronic music, except that energy is
    welcome when it comes with groove (energetic urban music), and very fast or very slow tempos
    put them off. The interaction and the tempo bowl keep a linear model on the audio features
    from recovering taste exactly.
    """
    axis = {name: latent[:, AXIS_INDEX[name]] for name in STYLE_AXES}
    return (
        0.9 * axis["acoustic"]
        - 0.6 * axis["energy"]
        - 0.5 * axis["electronic"]
        + 0.5 * axis["energy"] * axis["urban"]
        - 0.25 * (axis["tempo"] ** 2 - 1.0)
    )


# How sharply the hidden taste separates likes from dislikes; how much of an artist's appeal the
# audio does not show (image, lyrics, memories); and how much an album's or a single track's own
# character moves the listener compared with the artist's overall sound. Tuned so that about
# 85% of labelled artists are at least 80% on one side, and a logistic regression on the audio
# features reaches a held-out-artist AUC of about 0.8 (the true probabilities reach about 0.98).
TASTE_SHARPNESS = 8.0
ARTIST_APPEAL_SPREAD = 0.4
ALBUM_TASTE_WEIGHT = 0.3
TRACK_TASTE_WEIGHT = 0.2


def build_demo_world(spec: DemoWorldSpec = DemoWorldSpec()) -> DemoWorld:
    """The complete world, in memory; deterministic in `spec`."""
    # Each aspect draws from its own stream, so adding one (editions the ninth, MusicBrainz tags the
    # tenth) leaves the others as they were.
    streams = np.random.SeedSequence(spec.seed).spawn(10)
    structure_rng, style_rng, audio_rng, taste_rng, coverage_rng, name_rng, id_rng, detail_rng, edition_rng, tag_rng = (
        np.random.default_rng(stream) for stream in streams
    )

    # --- artists ---
    n_artists = spec.artists
    artist_style = style_rng.standard_normal((n_artists, len(STYLE_AXES)))
    artist_era = style_rng.standard_normal(n_artists)
    artist_appeal = ARTIST_APPEAL_SPREAD * taste_rng.standard_normal(n_artists)
    # The labelled artists are a random subset: who the listener knows does not depend on taste.
    labelled_artists = structure_rng.permutation(n_artists)[: spec.labelled_artists]
    labelled_counts = np.zeros(n_artists, dtype=int)
    labelled_counts[labelled_artists] = _labelled_track_counts(spec, structure_rng)

    # --- albums: (artist, is_labelled, track count) ---
    album_artist: list[int] = []
    album_labelled: list[bool] = []
    album_size: list[int] = []
    for artist in range(n_artists):
        count = int(labelled_counts[artist])
        if count:
            # The listener's tracks of an artist come from one or a few of its releases.
            for size in _split(count, math.ceil(count / 14)):
                album_artist.append(artist)
                album_labelled.append(True)
                album_size.append(size)
    # Every artist gets a candidate album when there are enough to go round; prolific artists more.
    base = 1 if spec.candidate_albums >= n_artists else 0
    prolific = structure_rng.lognormal(0.0, 0.7, n_artists)
    extra = structure_rng.multinomial(spec.candidate_albums - base * n_artists, prolific / prolific.sum())
    candidate_artist = np.repeat(np.arange(n_artists), base + extra)
    candidate_sizes = _album_sizes(spec, structure_rng, len(candidate_artist))
    album_artist += candidate_artist.tolist()
    album_labelled += [False] * len(candidate_artist)
    album_size += candidate_sizes.tolist()
    album_artist_arr = np.array(album_artist)
    album_labelled_arr = np.array(album_labelled)
    n_albums = len(album_artist)

    album_style = style_rng.standard_normal((n_albums, len(STYLE_AXES)))
    album_era = math.sqrt(1 - ALBUM_ERA_SHARE) * artist_era[album_artist_arr] + math.sqrt(
        ALBUM_ERA_SHARE
    ) * style_rng.standard_normal(n_albums)
    album_year = np.rint(from_score("release_year", album_era)).astype(int)

    # --- tracks ---
    track_album = np.repeat(np.arange(n_albums), album_size)
    track_artist = album_artist_arr[track_album]
    n_tracks = len(track_album)
    track_style = style_rng.standard_normal((n_tracks, len(STYLE_AXES)))
    latent = np.empty((n_tracks, len(AXES)))
    latent[:, : len(STYLE_AXES)] = (
        math.sqrt(ARTIST_SHARE) * artist_style[track_artist]
        + math.sqrt(ALBUM_SHARE) * album_style[track_album]
        + math.sqrt(TRACK_SHARE) * track_style
    )
    latent[:, AXIS_INDEX["era"]] = album_era[track_album]
    track_labelled = album_labelled_arr[track_album]

    audio = generate_audio_features(latent, audio_rng)

    # --- taste: the threshold puts the listener's own tracks at about half liked ---
    # A listener takes to an artist's sound as a whole; a single track's quirks matter less.
    taste_latent = latent.copy()
    taste_latent[:, : len(STYLE_AXES)] -= (1 - ALBUM_TASTE_WEIGHT) * math.sqrt(ALBUM_SHARE) * album_style[track_album]
    taste_latent[:, : len(STYLE_AXES)] -= (1 - TRACK_TASTE_WEIGHT) * math.sqrt(TRACK_SHARE) * track_style
    taste = taste_score(taste_latent) + artist_appeal[track_artist]
    threshold = float(np.median(taste[track_labelled]))
    like_probability = 1.0 / (1.0 + np.exp(-TASTE_SHARPNESS * (taste - threshold)))
    liked = (taste_rng.random(n_tracks) < like_probability).astype(int)

    # --- which AcousticBrainz documents exist ---
    sparse_album = coverage_rng.random(n_albums) < spec.sparse_album_share
    missing_rate = np.where(
        album_labelled_arr, spec.labelled_without_documents_share, np.where(sparse_album, 0.8, spec.missing_documents_share)
    )[track_album]
    missing = coverage_rng.random(n_tracks) < missing_rate
    # Labelled tracks are either fully analysed or unknown to AcousticBrainz; candidate tracks
    # can also lack just one of the two documents.
    which = coverage_rng.random(n_tracks)
    partial = missing & ~track_labelled
    has_lowlevel = ~missing | (partial & (which < 0.25))
    has_highlevel = ~missing | (partial & (which >= 0.25) & (which < 0.5))

    # --- names, ids and release details ---
    catalogue = _catalogue(
        name_rng=name_rng,
        id_rng=id_rng,
        detail_rng=detail_rng,
        artist_style=artist_style,
        album_artist=album_artist_arr,
        album_size=np.array(album_size),
        album_year=album_year,
        track_album=track_album,
    )

    lowlevel_documents, highlevel_documents = _documents(audio, catalogue, has_lowlevel, has_highlevel, detail_rng)
    tags = _musicbrainz_tags(artist_style, album_style, album_artist_arr, tag_rng)
    releases = _releases(catalogue, np.rint(audio.scalars["duration"] * 1000).astype(int).tolist(), tags)
    # Dump files are not grouped by artist or by the listener's taste.
    releases = [releases[index] for index in structure_rng.permutation(n_albums)]
    candidate_releases = {catalogue.release_ids[album] for album in np.flatnonzero(~album_labelled_arr)}
    releases = _with_reissues(releases, candidate_releases, spec.reissue_share, edition_rng)
    resubmissions = _resubmissions(lowlevel_documents, highlevel_documents, spec.resubmission_share, edition_rng)

    recording_ids = catalogue.recording_ids
    truth = pd.DataFrame(
        {
            "recording_id": recording_ids,
            "artist_id": [catalogue.artist_ids[a] for a in track_artist],
            "artist": [catalogue.artist_names[a] for a in track_artist],
            "release_id": [catalogue.release_ids[b] for b in track_album],
            "is_labelled": track_labelled,
            "true_like_probability": like_probability,
            "liked": liked,
            "release_year": album_year[track_album],
            "has_lowlevel": has_lowlevel,
            "has_highlevel": has_highlevel,
        }
    )
    labelled_rows = structure_rng.permutation(np.flatnonzero(track_labelled))
    liked_tracks = pd.DataFrame(
        {
            "mbid": pd.Series([recording_ids[i] for i in labelled_rows], dtype=str),
            "liked": liked[labelled_rows].astype(int),
        }
    )
    return DemoWorld(
        spec=spec,
        lowlevel_documents=lowlevel_documents,
        highlevel_documents=highlevel_documents,
        releases=releases,
        liked_tracks=liked_tracks,
        truth=truth,
        resubmissions=resubmissions,
        artists=_artist_documents(catalogue, tags),
        release_groups=_release_group_documents(catalogue, tags),
    )


def _with_reissues(releases: list[dict], candidates: set[str], share: float, rng: np.random.Generator) -> list[dict]:
    """Add a later edition of some candidate albums: same release group and recordings, new release."""
    originals = [release for release in releases if release["id"] in candidates]
    chosen = [originals[index] for index in np.flatnonzero(rng.random(len(originals)) < share)]
    reissues = []
    for original, reissue_id in zip(chosen, _seeded_uuids(rng, len(chosen))):
        year = int(original["date"][:4])
        later = min(2022, year + int(rng.integers(5, 26)))
        media = []
        for medium in original["media"]:
            track_ids = _seeded_uuids(rng, len(medium["tracks"]))
            media.append({**medium, "tracks": [{**track, "id": new} for track, new in zip(medium["tracks"], track_ids)]})
        # A later edition has tags of its own, which hardly anyone adds.
        reissues.append(
            {
                **original, "id": reissue_id, "date": f"{later:04d}", "country": "XW", "media": media,
                "genres": [], "tags": [],
            }
        )
    # Spread the reissues through the file, as the dump's order is not by release group.
    combined = list(releases)
    for reissue in reissues:
        combined.insert(int(rng.integers(0, len(combined) + 1)), reissue)
    return combined


def _resubmissions(
    lowlevel: dict[str, dict], highlevel: dict[str, dict], share: float, rng: np.random.Generator
) -> dict[str, dict[str, dict]]:
    """Second analyses (offset 1) of a `share` of the recordings: the tempo detected an octave off."""
    mbids = sorted(lowlevel)
    chosen = [mbids[index] for index in np.flatnonzero(rng.random(len(mbids)) < share)]
    again_lowlevel, again_highlevel = {}, {}
    for mbid in chosen:
        document = lowlevel[mbid]
        factor = 2.0 if rng.random() < 0.5 else 0.5
        rhythm = {
            **document["rhythm"],
            "bpm": round(document["rhythm"]["bpm"] * factor, 6),
            "beats_count": int(round(document["rhythm"]["beats_count"] * factor)),
        }
        again_lowlevel[mbid] = {**document, "rhythm": rhythm}
        if mbid in highlevel:
            again_highlevel[mbid] = highlevel[mbid]
    return {"lowlevel": again_lowlevel, "highlevel": again_highlevel}


@dataclass
class _Catalogue:
    """Names, ids and release details of every artist, album and track (index-aligned lists)."""

    artist_ids: list[str]
    artist_names: list[str]
    artist_sort_names: list[str]
    artist_genre: list[str]
    album_artist: list[int]
    release_ids: list[str]
    release_group_ids: list[str]
    album_titles: list[str]
    album_dates: list[str]
    album_sizes: list[int]
    album_discs: list[list[int]]  # tracks per disc
    album_countries: list[str]
    album_formats: list[str]
    album_labels: list[str | None]  # None: the files carry no label tag
    album_genre_tagged: list[bool]
    track_album: list[int]
    track_disc: list[int]
    track_number: list[int]  # position on its disc
    track_titles: list[str]
    recording_ids: list[str]
    release_track_ids: list[str]
    track_lossless: list[bool]
    track_bit_rate: list[int]
    track_extractor: list[int]  # index into LOWLEVEL_VERSIONS
    track_md5: list[str]

    def tags(self, track: int) -> dict[str, Any]:
        """The file tags a submitter's tagger (e.g. MusicBrainz Picard) wrote; tags are lists of strings."""
        album = self.track_album[track]
        artist = self.album_artist[album]
        name, sort_name = self.artist_names[artist], self.artist_sort_names[artist]
        number, title = self.track_number[track], self.track_titles[track]
        extension = "flac" if self.track_lossless[track] else "mp3"
        tags: dict[str, Any] = {
            "album": [self.album_titles[album]],
            "albumartist": [name],
            "albumartistsort": [sort_name],
            "artist": [name],
            "artistsort": [sort_name],
            "date": [self.album_dates[album]],
            "discnumber": [str(self.track_disc[track])],
            "disctotal": [str(len(self.album_discs[album]))],
            "file_name": f"{number:02d} {title}.{extension}",
            "media": [self.album_formats[album]],
            "musicbrainz_albumartistid": [self.artist_ids[artist]],
            "musicbrainz_albumid": [self.release_ids[album]],
            "musicbrainz_artistid": [self.artist_ids[artist]],
            "musicbrainz_recordingid": [self.recording_ids[track]],
            "musicbrainz_releasegroupid": [self.release_group_ids[album]],
            "musicbrainz_releasetrackid": [self.release_track_ids[track]],
            "originaldate": [self.album_dates[album]],
            "releasecountry": [self.album_countries[album]],
            "releasestatus": ["official"],
            "releasetype": ["album"],
            "title": [title],
            "tracknumber": [str(number)],
            "tracktotal": [str(self.album_discs[album][self.track_disc[track] - 1])],
        }
        if self.album_genre_tagged[album]:
            tags["genre"] = [self.artist_genre[artist]]
        label = self.album_labels[album]
        if label is not None:
            tags["label"] = [label]
        return tags


def _catalogue(
    *,
    name_rng: np.random.Generator,
    id_rng: np.random.Generator,
    detail_rng: np.random.Generator,
    artist_style: np.ndarray,
    album_artist: np.ndarray,
    album_size: np.ndarray,
    album_year: np.ndarray,
    track_album: np.ndarray,
) -> _Catalogue:
    n_artists, n_albums, n_tracks = len(artist_style), len(album_artist), len(track_album)
    names = NameMaker(name_rng)
    artists = [names.artist() for _ in range(n_artists)]
    labels = [names.label() for _ in range(max(8, n_artists // 6))]
    # Most of an artist's albums come out on its usual label.
    artist_label = name_rng.integers(len(labels), size=n_artists)
    other_label = name_rng.integers(len(labels), size=n_albums)
    usual_label = name_rng.random(n_albums) < 0.8
    album_label = np.where(usual_label, artist_label[album_artist], other_label)
    album_titles = [names.album() for _ in range(n_albums)]
    track_titles = [names.track() for _ in range(n_tracks)]
    artist_ids = _seeded_uuids(id_rng, n_artists)
    release_ids = _seeded_uuids(id_rng, n_albums)

    month = detail_rng.integers(1, 13, n_albums)
    day = detail_rng.integers(1, 29, n_albums)
    full_date = detail_rng.random(n_albums) < 0.85
    album_dates = [
        f"{year:04d}-{m:02d}-{d:02d}" if full else f"{year:04d}"
        for year, m, d, full in zip(album_year.tolist(), month.tolist(), day.tolist(), full_date.tolist())
    ]
    countries = ["US", "GB", "XW", "DE", "SE", "CA", "AU", "FR", "NL", "JP"]
    country_weights = [0.38, 0.2, 0.14, 0.06, 0.05, 0.05, 0.04, 0.03, 0.03, 0.02]
    album_countries = detail_rng.choice(countries, n_albums, p=country_weights).tolist()
    digital = (album_year >= 2008) & (detail_rng.random(n_albums) < 0.6)
    album_formats = np.where(digital, "Digital Media", "CD").tolist()
    # Long albums are sometimes spread over two discs.
    two_discs = (album_size >= 14) & (detail_rng.random(n_albums) < 0.1)
    album_discs = [_split(int(size), 2) if two else [int(size)] for size, two in zip(album_size, two_discs)]
    track_disc = [disc for discs in album_discs for disc, size in enumerate(discs, start=1) for _ in range(size)]
    track_number = [number for discs in album_discs for size in discs for number in range(1, size + 1)]
    genre_tagged = detail_rng.random(n_albums) >= REFERENCE_MISSING_GENRE_TAG_SHARE
    label_tagged = detail_rng.random(n_albums) >= REFERENCE_MISSING_LABEL_TAG_SHARE
    lossless = detail_rng.random(n_tracks) < 0.45
    bit_rate = np.where(lossless, 0, detail_rng.choice([128000, 192000, 256000, 320000], n_tracks))
    md5 = detail_rng.bytes(16 * n_tracks).hex()

    return _Catalogue(
        artist_ids=artist_ids,
        artist_names=[name for name, _, _ in artists],
        artist_sort_names=[sort_name for _, sort_name, _ in artists],
        artist_genre=_nearest_genre(artist_style).tolist(),
        album_artist=album_artist.tolist(),
        release_ids=release_ids,
        release_group_ids=_made_up_album_ids(id_rng, n_albums),
        album_titles=album_titles,
        album_dates=album_dates,
        album_sizes=album_size.tolist(),
        album_discs=album_discs,
        album_countries=album_countries,
        album_formats=album_formats,
        album_labels=[labels[label] if tagged else None for label, tagged in zip(album_label, label_tagged)],
        album_genre_tagged=genre_tagged.tolist(),
        track_album=track_album.tolist(),
        track_disc=track_disc,
        track_number=track_number,
        track_titles=track_titles,
        recording_ids=_seeded_uuids(id_rng, n_tracks),
        release_track_ids=_seeded_uuids(id_rng, n_tracks),
        track_lossless=lossless.tolist(),
        track_bit_rate=bit_rate.tolist(),
        track_extractor=detail_rng.integers(len(docs.LOWLEVEL_VERSIONS), size=n_tracks).tolist(),
        track_md5=[md5[32 * i : 32 * i + 32] for i in range(n_tracks)],
    )


def _credits(catalogue: _Catalogue, tags: MusicBrainzTags | None = None) -> list[list[dict]]:
    """Each artist's credit; with `tags`, its artist object carries the artist's tags."""
    votes = tags.artists if tags is not None else [None] * len(catalogue.artist_ids)
    return [
        docs.artist_credit(
            artist_id,
            name,
            sort_name,
            None if artist_votes is None else docs.tag_lists(artist_votes, MUSICBRAINZ_GENRE_NAMES)["tags"],
        )
        for artist_id, name, sort_name, artist_votes in zip(
            catalogue.artist_ids, catalogue.artist_names, catalogue.artist_sort_names, votes
        )
    ]


def _releases(catalogue: _Catalogue, lengths_ms: list[int], tags: MusicBrainzTags) -> list[dict]:
    """One MusicBrainz release document per album, in album order. The release's genres and tags, and
    its artist's tags in the release's credit (the serializer leaves them out of the others)."""
    credits = _credits(catalogue)
    tagged_credits = _credits(catalogue, tags)
    releases = []
    track = 0
    for album, discs in enumerate(catalogue.album_discs):
        credit = credits[catalogue.album_artist[album]]
        date = catalogue.album_dates[album]
        media = []
        for disc, size in enumerate(discs, start=1):
            tracks = []
            for number in range(1, size + 1):
                tracks.append(
                    docs.release_track(
                        track_id=catalogue.release_track_ids[track],
                        position=number,
                        recording_id=catalogue.recording_ids[track],
                        title=catalogue.track_titles[track],
                        length_ms=lengths_ms[track],
                        # Each recording first came out on this album.
                        first_release_date=date,
                        credit=credit,
                    )
                )
                track += 1
            media.append(docs.medium(disc, catalogue.album_formats[album], 0, tracks))
        releases.append(
            docs.release_document(
                release_id=catalogue.release_ids[album],
                title=catalogue.album_titles[album],
                date=date,
                country=catalogue.album_countries[album],
                credit=tagged_credits[catalogue.album_artist[album]],
                release_group_id=catalogue.release_group_ids[album],
                media=media,
                tags=docs.tag_lists(tags.releases[album], MUSICBRAINZ_GENRE_NAMES, full_genres=False),
                group_credit=credit,
            )
        )
    return releases


def _artist_documents(catalogue: _Catalogue, tags: MusicBrainzTags) -> list[dict]:
    """The lines of `mbdump/artist`: every artist with its genres and tags, in artist order."""
    return [
        docs.artist_document(
            artist_id=artist_id, name=name, sort_name=sort_name, tags=docs.tag_lists(votes, MUSICBRAINZ_GENRE_NAMES)
        )
        for artist_id, name, sort_name, votes in zip(
            catalogue.artist_ids, catalogue.artist_names, catalogue.artist_sort_names, tags.artists
        )
    ]


def _release_group_documents(catalogue: _Catalogue, tags: MusicBrainzTags) -> list[dict]:
    """The lines of `mbdump/release-group`: one per album, in album order, with its genres and tags.
    The artists of its credit carry theirs too, as in the dump."""
    credits = _credits(catalogue, tags)
    return [
        docs.release_group_document(
            release_group_id=catalogue.release_group_ids[album],
            title=catalogue.album_titles[album],
            first_release_date=catalogue.album_dates[album],
            credit=credits[catalogue.album_artist[album]],
            tags=docs.tag_lists(tags.release_groups[album], MUSICBRAINZ_GENRE_NAMES),
        )
        for album in range(len(catalogue.release_ids))
    ]


def _documents(
    audio: AudioFeatures,
    catalogue: _Catalogue,
    has_lowlevel: np.ndarray,
    has_highlevel: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict[str, dict], dict[str, dict]]:
    """Low- and high-level documents of the tracks that have them, keyed by recording mbid."""
    n = len(catalogue.recording_ids)
    scalars = audio.scalars
    # Values are rounded to the precision that matters, which keeps the files small.
    duration = np.round(scalars["duration"], 6).tolist()
    loudness = np.round(scalars["average_loudness"], 9).tolist()
    # Louder masters need less gain to reach the replay-gain reference level.
    replay_gain = np.round(-14.0 * scalars["average_loudness"] + 4.0 + 1.5 * rng.standard_normal(n), 6).tolist()
    dynamic = np.round(scalars["dynamic_complexity"], 6).tolist()
    bpm = np.round(scalars["bpm"], 6).tolist()
    beats = scalars["beats_count"].tolist()
    changes = np.round(scalars["chords_changes_rate"], 9).tolist()
    number = np.round(scalars["chords_number_rate"], 9).tolist()
    centroid = docs.frame_statistics(scalars["spectral_centroid"], 0.7, rng, 5)
    rolloff = docs.frame_statistics(scalars["spectral_rolloff"], 1.1, rng, 5)
    flux = docs.frame_statistics(scalars["spectral_flux"], 0.75, rng, 9)
    mfcc = np.round(audio.mfcc, 6).tolist()
    assert len(mfcc[0]) == MFCC_COUNT
    extras = {name: np.round(values, 6).tolist() for name, values in audio.extras.items()}
    key_strength = np.round(audio.key_strength, 6).tolist()
    models = {
        model: (classes, np.round(probabilities, 9).tolist()) for model, (classes, probabilities) in audio.highlevel.items()
    }
    key_key, key_scale = audio.key_key.tolist(), audio.key_scale.tolist()
    chords_key, chords_scale = audio.chords_key.tolist(), audio.chords_scale.tolist()

    lowlevel_documents: dict[str, dict] = {}
    highlevel_documents: dict[str, dict] = {}
    for track in np.flatnonzero(has_lowlevel | has_highlevel).tolist():
        mbid = catalogue.recording_ids[track]
        tags = catalogue.tags(track)
        version = docs.LOWLEVEL_VERSIONS[catalogue.track_extractor[track]]
        lossless = catalogue.track_lossless[track]
        audio_properties = {
            "analysis_sample_rate": 44100,
            "bit_rate": catalogue.track_bit_rate[track],
            "codec": "flac" if lossless else "mp3",
            "downmix": "mix",
            "equal_loudness": 0,
            "length": duration[track],
            "lossless": lossless,
            "md5_encoded": catalogue.track_md5[track],
            "replay_gain": replay_gain[track],
            "sample_rate": 44100,
        }
        if has_lowlevel[track]:
            lowlevel_documents[mbid] = docs.lowlevel_document(
                tonal={
                    "chords_changes_rate": changes[track],
                    "chords_key": chords_key[track],
                    "chords_number_rate": number[track],
                    "chords_scale": chords_scale[track],
                    "key_key": key_key[track],
                    "key_scale": key_scale[track],
                    "key_strength": key_strength[track],
                    "tuning_frequency": extras["tuning_frequency"][track],
                },
                rhythm={
                    "beats_count": beats[track],
                    "bpm": bpm[track],
                    "danceability": extras["rhythm_danceability"][track],
                    "onset_rate": extras["onset_rate"][track],
                },
                lowlevel={
                    "average_loudness": loudness[track],
                    "dynamic_complexity": dynamic[track],
                    "mfcc": {"mean": mfcc[track]},
                    "spectral_centroid": centroid[track],
                    "spectral_flux": flux[track],
                    "spectral_rolloff": rolloff[track],
                },
                audio_properties=audio_properties,
                tags=tags,
                version=version,
            )
        if has_highlevel[track]:
            highlevel_documents[mbid] = docs.highlevel_document(
                models={model: (classes, rows[track]) for model, (classes, rows) in models.items()},
                audio_properties=audio_properties,
                tags=tags,
                lowlevel_version=version,
            )
    return lowlevel_documents, highlevel_documents


# ---------------------------------------------------------------------------------------------
# Writing the world to disk
# ---------------------------------------------------------------------------------------------


def _write_atomically(path: Path, text: str) -> None:
    """Write to a temporary name beside the target, then rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def write_demo_world(
    world: DemoWorld, root: Path | str, progress: Callable[[str], None] | None = None
) -> DemoWorldPaths:
    """Write the world under `root` (replacing any earlier world there); the marker file goes last."""
    report = progress or (lambda message: None)
    paths = demo_world_paths(root)
    paths.root.mkdir(parents=True, exist_ok=True)
    # From here until the marker is rewritten the world on disk counts as incomplete.
    paths.marker_path.unlink(missing_ok=True)
    for folder in (paths.acousticbrainz_dumps, paths.musicbrainz_dumps):
        # Every archive in these folders is a partition: an old world's must not linger.
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    paths.liked_tracks_path.unlink(missing_ok=True)

    written = dump_writer.write_acousticbrainz_dumps(
        paths.acousticbrainz_dumps,
        {"lowlevel": world.lowlevel_documents, "highlevel": world.highlevel_documents},
        world.resubmissions,
        world.spec.archives_per_kind,
    )
    report(f"  {len(written)} AcousticBrainz dump archives written")
    dump_writer.write_release_dump(paths.release_archive, world.releases)
    dump_writer.write_entity_dump(paths.release_group_archive, "release-group", world.release_groups)
    dump_writer.write_entity_dump(paths.artist_archive, "artist", world.artists)
    _write_atomically(paths.liked_tracks_path, world.liked_tracks[["mbid", "liked"]].to_csv(index=False))
    report(
        f"  {len(world.releases):,} MusicBrainz releases, {len(world.release_groups):,} release groups, "
        f"{len(world.artists):,} artists and {len(world.liked_tracks):,} labelled tracks written"
    )

    marker = {
        "description": "albumrec demo world: synthetic AcousticBrainz and MusicBrainz dump archives",
        "generator_version": GENERATOR_VERSION,
        "spec": world.spec.as_json(),
        "summary": world.summary(),
    }
    _write_atomically(paths.marker_path, json.dumps(marker, indent=2) + "\n")
    return paths


def is_complete_demo_world(root: Path | str, spec: DemoWorldSpec) -> bool:
    """Whether `root` holds a completely written world of this spec (its marker was written last)."""
    paths = demo_world_paths(root)
    try:
        marker = json.loads(paths.marker_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("generator_version") == GENERATOR_VERSION
        and marker.get("spec") == spec.as_json()
        and paths.release_archive.is_file()
        and paths.release_group_archive.is_file()
        and paths.artist_archive.is_file()
        and paths.liked_tracks_path.is_file()
        and paths.acousticbrainz_dumps.is_dir()
    )


def ensure_demo_world(
    spec: DemoWorldSpec, root: Path | str, progress: Callable[[str], None] | None = None
) -> tuple[DemoWorldPaths, bool]:
    """Build and write the world unless a complete one of the same spec is already there.

    Returns the paths and whether anything was written.
    """
    report = progress or (lambda message: None)
    paths = demo_world_paths(root)
    if is_complete_demo_world(root, spec):
        report(f"a complete demo world for this spec is already at {paths.root}; nothing to do")
        return paths, False
    if paths.root.exists() and any(paths.root.iterdir()):
        report(f"no complete demo world for this spec at {paths.root}; rewriting it")
    started = time.perf_counter()
    report(f"building the demo world (seed {spec.seed}, {spec.artists} artists) ...")
    world = build_demo_world(spec)
    report(f"  built in {time.perf_counter() - started:.1f} s; writing to {paths.root} ...")
    write_demo_world(world, root, progress=report)
    return paths, True
