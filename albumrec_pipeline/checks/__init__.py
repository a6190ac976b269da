"""Asset checks: the guardrails users see next to each asset in the Dagster UI.

Blocking checks (ERROR) stop a run before bad data flows on; warnings flag what deserves a look
but does not make the result wrong.
"""

from albumrec_pipeline.checks.dataset import dataset_checks
from albumrec_pipeline.checks.liked_list import liked_list_checks
from albumrec_pipeline.checks.model import model_checks
from albumrec_pipeline.checks.recommendations import recommendation_checks

ALL_CHECKS = [*liked_list_checks, *dataset_checks, *model_checks, *recommendation_checks]
