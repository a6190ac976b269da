"""Made-up but plausible names for demo artists, albums, tracks and record labels.

All names are assembled from small word lists with a seeded generator, so a demo world always
has the same names for the same seed and never borrows a real artist's discography.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_ADJECTIVES = (
    "Amber", "Silver", "Hollow", "Velvet", "Electric", "Quiet", "Golden", "Northern", "Broken",
    "Crimson", "Distant", "Paper", "Wild", "Midnight", "Glass", "Lonely", "Bright", "Restless",
    "Secret", "Static", "Wooden", "Young", "Blue", "Burning", "Cold", "Copper", "Dusty", "Early",
    "Faded", "Gentle", "Heavy", "Hidden", "Iron", "Lucky", "Neon", "Pale", "Rusty", "Slow", "Stray",
    "Sunken", "Tender", "Twin", "Violet", "Wandering", "Southern", "Careless", "Endless", "Honest",
    "Little", "Magnetic", "Morning", "Painted", "Strange", "Sweet", "Tired", "Upside", "Western",
)
_NOUNS = (
    "Harbor", "River", "Lantern", "Engine", "Garden", "Mirror", "Highway", "Signal", "Orchard",
    "Tide", "Canyon", "Avenue", "Meadow", "Satellite", "Prairie", "Window", "Thunder", "Compass",
    "Ember", "Feather", "Island", "Machine", "Monarch", "Mountain", "Ocean", "Parade", "Pilot",
    "Radio", "Shadow", "Sparrow", "Station", "Summer", "Telescope", "Valley", "Winter", "Anchor",
    "Bridge", "Carousel", "Desert", "Forest", "Horizon", "Kingdom", "Lighthouse", "Motel", "Arrow",
    "Circle", "Comet", "Diamond", "Dream", "Fire", "Garage", "Heart", "Hotel", "Letter", "Light",
    "Mile", "Moon", "Night", "Ribbon", "Road", "Rocket", "Season", "Stone", "Street", "Train",
)
_FIRST_NAMES = (
    "Ada", "Ben", "Cora", "Dan", "Elsa", "Finn", "Grace", "Hank", "Iris", "Jack", "Kira", "Leo",
    "Maya", "Nico", "Olive", "Pete", "Rosa", "Sam", "Tess", "Vic", "Wes", "Zoe", "June", "Otis",
    "Mabel", "Ray", "Lou", "Nina", "Carl", "Della",
)
_LAST_NAMES = (
    "Hartley", "Moreno", "Quinn", "Lindqvist", "Okafor", "Brennan", "Castillo", "Dunmore", "Ellery",
    "Fairbank", "Greer", "Holloway", "Ivers", "Jansen", "Keller", "Lachance", "Marsh", "Novak",
    "Ortega", "Pryce", "Rowe", "Sutter", "Thorne", "Underwood", "Vance", "Whitlock", "Yates",
)
_TRACK_VERBS = (
    "Running", "Waiting", "Falling", "Dancing", "Driving", "Dreaming", "Calling", "Leaving",
    "Holding", "Chasing", "Burning", "Turning", "Walking", "Singing", "Sleeping",
)


class NameMaker:
    """Draws names from a seeded generator; artist and label names are unique within a world."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._used: set[str] = set()

    def _pick(self, words: tuple[str, ...]) -> str:
        return words[int(self._rng.integers(len(words)))]

    def _unique(self, make: Callable[[], str]) -> str:
        for _ in range(1000):
            name = make()
            if name not in self._used:
                self._used.add(name)
                return name
        raise RuntimeError("ran out of distinct names; enlarge the word lists")

    def artist(self) -> tuple[str, str, bool]:
        """(name, MusicBrainz-style sort name, is a person)."""
        pattern = int(self._rng.integers(5))
        if pattern <= 1:
            name = self._unique(lambda: f"{self._pick(_FIRST_NAMES)} {self._pick(_LAST_NAMES)}")
            first, last = name.split(" ", 1)
            return name, f"{last}, {first}", True
        if pattern == 2:
            name = self._unique(lambda: f"The {self._pick(_ADJECTIVES)} {self._pick(_NOUNS)}s")
            return name, f"{name[4:]}, The", False
        if pattern == 3:
            name = self._unique(lambda: f"{self._pick(_NOUNS)} {self._pick(_NOUNS)}")
            return name, name, False
        name = self._unique(lambda: f"{self._pick(_ADJECTIVES)} {self._pick(_NOUNS)}")
        return name, name, False

    def label(self) -> str:
        suffixes = ("Records", "Recordings", "Music", "Sound", "Records Ltd.")

        def make() -> str:
            first = self._pick(_NOUNS) if self._rng.random() < 0.3 else self._pick(_ADJECTIVES)
            return f"{first} {self._pick(_NOUNS)} {self._pick(suffixes)}"

        return self._unique(make)

    def album(self) -> str:
        pattern = int(self._rng.integers(6))
        adjective, noun, other = self._pick(_ADJECTIVES), self._pick(_NOUNS), self._pick(_NOUNS)
        return (
            f"{adjective} {noun}",
            f"{noun}s of {other}",
            f"The {noun}",
            f"Songs from the {noun}",
            f"{adjective} {noun}s",
            f"{noun} & {other}",
        )[pattern]

    def track(self) -> str:
        pattern = int(self._rng.integers(7))
        adjective, noun, verb = self._pick(_ADJECTIVES), self._pick(_NOUNS), self._pick(_TRACK_VERBS)
        return (
            f"{adjective} {noun}",
            f"{verb} {noun}s",
            f"The {noun} Song",
            f"Back to the {noun}",
            f"{verb}",
            f"{noun} in the {self._pick(_NOUNS)}",
            f"{adjective}",
        )[pattern]
