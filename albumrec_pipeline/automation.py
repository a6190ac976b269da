"""Declarative automation shared by the assets downstream of the listener's list and the catalog.

`eager()` requests an asset once any of its upstream assets has been updated since it was last
materialized, when none of them is missing or still being written. So a new model, a newly
ingested dump archive or a new live catalog partition brings the ranking up to date without a
click, and nothing is requested when nothing upstream changed. The code versions on the assets
make the UI mark what a code change left stale.

One thing is added to it: nothing is requested while an upstream asset's latest blocking check
has failed. Such a table was written by a run that then stopped (a list that cannot teach a
taste, a catalog table that failed its checks); eager alone would carry it on to a model in a
run of its own, and that run, queued behind the list sensor's next refresh, retrained the model
after the refresh had ranked the catalog, leaving the ranking older than the model. The update
waits, and is taken up once the check passes on new rows.
"""

import dagster as dg

_UPSTREAM_BLOCKING_CHECK_FAILED = dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.any_checks_match(dg.AutomationCondition.check_failed(), blocking_only=True)
).with_label("an upstream blocking check failed")

UPDATE_WHEN_UPSTREAM_CHANGES = (dg.AutomationCondition.eager() & ~_UPSTREAM_BLOCKING_CHECK_FAILED).with_label(
    "eager, unless an upstream blocking check failed"
)
