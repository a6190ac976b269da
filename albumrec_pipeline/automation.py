"""Declarative automation shared by the assets downstream of the listener's list and the catalog.

`eager()` requests an asset once any of its upstream assets has been updated since it was last
materialized, when none of them is missing or still being written. So a new model, a newly
ingested dump archive or a new live catalog partition brings the ranking up to date without a
click, and nothing is requested when nothing upstream changed. The code versions on the assets
make the UI mark what a code change left stale.
"""

import dagster as dg

UPDATE_WHEN_UPSTREAM_CHANGES = dg.AutomationCondition.eager()
