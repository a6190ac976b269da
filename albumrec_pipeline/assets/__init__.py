"""The asset graph, a module per domain, in three groups: ingest -> model -> recommend."""
