"""Genre tags as model inputs: normalised to MusicBrainz's genre names, encoded over a vocabulary
fitted on the training split only.

A recording's tags come from two places:
- `genre`: the AcousticBrainz document's `metadata.tags.genre`, the submitter's file tag. One
  free-text string, often several genres in one ("Blues Country Folk", "Folk Rock; Indie",
  "Hip-Hop/Rap", "Country > Country-Pop").
- `musicbrainz_tags`: the MusicBrainz tags of the recording's release, release group and
  credited artists with their vote counts, as `name=count;name=count`.

Each string becomes a set of terms. A piece that names a MusicBrainz genre ("folk rock") gives
that genre and the broader genres inside its name ("folk", "rock"), so a listener's taste for
folk rock carries over to a folk album. A piece that is no genre is matched word by word, longest
genre first ("blues country folk" -> blues, country, folk); words that match no genre are kept as
they are, because a tag like "singer/songwriter" or "soundtrack" still says something. A file tag
weighs 1; a MusicBrainz tag weighs its votes over the recording's most-voted tag.

The encoding is multi-hot over the terms that at least `min_artists` training artists carry: a
term only one artist has would let the network recognise that artist, which carries nothing over
to artists the listener never rated. One more input says "this recording has no tags at all",
so a missing tag is an explicit input, never a silent zero.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

# The raw text columns tags are read from.
FILE_GENRE_COLUMN = "genre"
MUSICBRAINZ_TAGS_COLUMN = "musicbrainz_tags"
TAG_TEXT_COLUMNS: tuple[str, ...] = (FILE_GENRE_COLUMN, MUSICBRAINZ_TAGS_COLUMN)

TAG_INPUT_PREFIX = "tag:"
NO_TAGS_INPUT = "tag:(none)"
# The tags as one feature, in permutation importance and grouped reports.
TAGS_FEATURE = "genre tags"
TAGS_GROUP = "genre_tags"

# Spellings that name a MusicBrainz genre in other words. Applied to whole pieces and, before
# splitting, to the whole string (so "rhythm & blues" is not split at the ampersand).
ALIASES: dict[str, str] = {
    "hip-hop": "hip hop",
    "hiphop": "hip hop",
    "rap": "hip hop",
    "rnb": "r&b",
    "r & b": "r&b",
    "r'n'b": "r&b",
    "rhythm and blues": "r&b",
    "rhythm & blues": "r&b",
    "rock & roll": "rock and roll",
    "rock n roll": "rock and roll",
    "rock 'n' roll": "rock and roll",
    "rock'n'roll": "rock and roll",
    "rock n' roll": "rock and roll",
    "drum & bass": "drum and bass",
    "drum 'n' bass": "drum and bass",
    "drum'n'bass": "drum and bass",
    "dnb": "drum and bass",
    "singer/songwriter": "singer-songwriter",
    "singer songwriter": "singer-songwriter",
    "synthpop": "synth-pop",
    "synth pop": "synth-pop",
    "lofi": "lo-fi",
    "electronica/dance": "electronica",
    "country & western": "country",
    "easy-listening": "easy listening",
}
_SEPARATORS = re.compile(r"[;,/|>+]|\s&\s|\s-\s|\band\s+(?=\w)(?<!rock and )(?<!drum and )")
_LONGEST_GENRE_WORDS = 4


@cache
def musicbrainz_genres() -> frozenset[str]:
    """MusicBrainz's genre names (https://musicbrainz.org/genres, CC0), lower case."""
    text = resources.files("albumrec_pipeline.core").joinpath("data/musicbrainz_genres.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip()


def _as_genre(piece: str) -> str | None:
    """The MusicBrainz genre a piece names, trying hyphen and space spellings; None if none."""
    genres = musicbrainz_genres()
    for spelling in (piece, piece.replace("-", " "), piece.replace(" ", "-")):
        spelling = ALIASES.get(spelling, spelling)
        if spelling in genres:
            return spelling
    return None


def _with_broader(genre: str) -> list[str]:
    """The genre and the genres its name is made of ("folk rock" -> folk rock, folk, rock)."""
    words = dict.fromkeys(genre.split(" ") + re.split(r"[ -]", genre))
    broader = [word for word in words if word != genre and _as_genre(word) == word]
    return [genre, *broader]


def _piece_terms(piece: str, keep_words: bool) -> list[str]:
    piece = piece.strip(" .:!?\"'()[]{}*_")
    if not piece:
        return []
    whole = _as_genre(piece)
    if whole:
        return _with_broader(whole)
    words = [word.strip(".:!?\"'()[]{}*_") for word in piece.split(" ")]
    words = [word for word in words if word]
    terms: list[str] = []
    position = 0
    while position < len(words):
        for length in range(min(_LONGEST_GENRE_WORDS, len(words) - position), 0, -1):
            genre = _as_genre(" ".join(words[position : position + length]))
            if genre:
                terms += _with_broader(genre)
                position += length
                break
        else:
            word = words[position]
            # Keep a word that matched no genre when it is a word (not a number or a stray letter).
            if keep_words and len(word) > 1 and any(character.isalpha() for character in word):
                terms.append(word)
            position += 1
    return terms


def tag_terms(text: object, keep_words: bool = True) -> list[str]:
    """The normalised terms of one tag string, in order of appearance, without repeats.
    `keep_words=False` keeps genres only (for MusicBrainz tags, where "seen live" is common).

    >>> tag_terms("Folk Rock; Indie")
    ['folk rock', 'folk', 'rock', 'indie']
    """
    if not isinstance(text, str) or not text.strip():
        return []
    return list(_terms_of_text(text, keep_words))


# A catalog repeats the same few thousand tag strings over millions of rows, and permutation
# importance encodes the same rows again for every feature: parse each string once.
@functools.lru_cache(maxsize=1 << 16)
def _terms_of_text(text: str, keep_words: bool) -> tuple[str, ...]:
    cleaned = _clean(text)
    for spelling, genre in ALIASES.items():
        if any(mark in spelling for mark in "&/' "):
            cleaned = re.sub(rf"(?<!\w){re.escape(spelling)}(?!\w)", genre, cleaned)
    terms: dict[str, None] = {}
    for piece in _SEPARATORS.split(cleaned):
        for term in _piece_terms(piece.strip(), keep_words):
            terms.setdefault(term)
    return tuple(terms)


def parse_musicbrainz_tags(text: object) -> list[tuple[str, int]]:
    """`name=count;name=count` -> [(name, count)], skipping malformed entries and counts below 1."""
    if not isinstance(text, str):
        return []
    pairs = []
    for entry in text.split(";"):
        name, separator, count = entry.rpartition("=")
        if not separator or not name.strip():
            continue
        try:
            votes = int(count)
        except ValueError:
            continue
        if votes >= 1:
            pairs.append((name.strip(), votes))
    return pairs


def recording_term_weights(file_genre: object, musicbrainz_tags: object) -> dict[str, float]:
    """Term -> weight in (0, 1] for one recording: 1 for a file-tag term, votes over the most-voted
    MusicBrainz tag for a MusicBrainz term; a term from both keeps the larger weight."""
    weights: dict[str, float] = {}
    for term in tag_terms(file_genre):
        weights[term] = 1.0
    pairs = parse_musicbrainz_tags(musicbrainz_tags)
    most = max((votes for _, votes in pairs), default=1)
    for name, votes in pairs:
        for term in tag_terms(name, keep_words=False):
            weights[term] = max(weights.get(term, 0.0), votes / most)
    return weights


def table_term_weights(rows: pd.DataFrame) -> list[dict[str, float]]:
    """`recording_term_weights` of each row; a missing text column counts as no tags from it."""
    columns = [rows[column] if column in rows else pd.Series([None] * len(rows), index=rows.index) for column in TAG_TEXT_COLUMNS]
    return [recording_term_weights(genre, tags) for genre, tags in zip(*(column.tolist() for column in columns), strict=True)]


def display_name(term: str) -> str:
    """A term as a listener reads it: "folk rock" -> "Folk Rock", "r&b" -> "R&B"."""
    if term in {"r&b", "edm", "idm", "ebm", "aor", "mpb"}:
        return term.upper()
    return " ".join(word[:1].upper() + word[1:] for word in term.split(" "))


@dataclass(frozen=True)
class TagVocabulary:
    """The terms the network reads, fitted on training rows: one input per term, then "no tags"."""

    terms: tuple[str, ...]
    min_artists: int = 2

    @classmethod
    def fit(cls, rows: pd.DataFrame, artists: Sequence[str], min_artists: int = 2) -> TagVocabulary:
        carriers: dict[str, set[str]] = defaultdict(set)
        for artist, weights in zip(artists, table_term_weights(rows), strict=True):
            for term in weights:
                carriers[term].add(str(artist))
        return cls(tuple(sorted(term for term, who in carriers.items() if len(who) >= min_artists)), min_artists)

    @property
    def input_names(self) -> list[str]:
        return [f"{TAG_INPUT_PREFIX}{term}" for term in self.terms] + [NO_TAGS_INPUT]

    def encode(self, rows: pd.DataFrame) -> np.ndarray:
        """Rows x (terms + 1) float32: each term's weight, and 1 in the last column for no tags."""
        position = {term: index for index, term in enumerate(self.terms)}
        encoded = np.zeros((len(rows), len(self.terms) + 1), dtype="float32")
        for row, weights in enumerate(table_term_weights(rows)):
            if not weights:
                encoded[row, -1] = 1.0
            for term, weight in weights.items():
                if term in position:
                    encoded[row, position[term]] = weight
        return encoded

    def to_dict(self) -> dict[str, object]:
        return {"terms": list(self.terms), "min_artists": self.min_artists}

    @classmethod
    def from_dict(cls, stored: Mapping[str, object]) -> TagVocabulary:
        terms = stored.get("terms")
        if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms):
            raise ValueError("a stored tag vocabulary has no list of terms")
        return cls(tuple(terms), int(stored.get("min_artists", 2)))  # type: ignore[arg-type]


def term_of_input(input_name: str) -> str | None:
    """The term a network input reads (`tag:folk rock` -> `folk rock`), None for other inputs."""
    if input_name.startswith(TAG_INPUT_PREFIX) and input_name != NO_TAGS_INPUT:
        return input_name[len(TAG_INPUT_PREFIX) :]
    return None


def shared_genres(rows: pd.DataFrame, vocabulary: Iterable[str] | None = None, top: int = 2) -> tuple[list[str], int]:
    """The `top` genre terms most of the rows carry (restricted to `vocabulary` when given), and
    how many rows carry the first: what an album's explanation names ("Folk Rock, Americana: 9 of
    11 tracks"). Genres of MusicBrainz's list come before other words."""
    allowed = set(vocabulary) if vocabulary is not None else None
    counts: dict[str, int] = defaultdict(int)
    for weights in table_term_weights(rows):
        for term in weights:
            if allowed is None or term in allowed:
                counts[term] += 1
    genres = musicbrainz_genres()
    ranked = sorted(counts, key=lambda term: (-counts[term], term not in genres, -len(term), term))
    chosen: list[str] = []
    for term in ranked:
        # "Folk Rock" already says "Folk" and "Rock".
        if len(chosen) < top and not any(term in _with_broader(other)[1:] for other in chosen):
            chosen.append(term)
    return chosen, (counts[chosen[0]] if chosen else 0)


def album_genres(tracks: pd.DataFrame, top: int = 2) -> str:
    """The MusicBrainz genres most of an album's tracks carry, for its explanation:
    "Folk Rock, Americana: 9 of 11 tracks"; "" when no track has a genre."""
    genres, carriers = shared_genres(tracks, musicbrainz_genres(), top)
    if not genres:
        return ""
    return f"{', '.join(display_name(genre) for genre in genres)}: {carriers} of {len(tracks)} tracks"
