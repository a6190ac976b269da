"""Pure functions that do albumrec's work; the Dagster assets only wire them together."""
