"""MusicBrainz identifiers as albumrec reads and stores them."""

# A MusicBrainz id (a UUID) in its canonical form: 36 characters of lower-case hex and hyphens.
MBID_PATTERN = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
