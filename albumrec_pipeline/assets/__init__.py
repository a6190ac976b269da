"""The asset graph, one module per group: ingest -> model -> recommend."""
