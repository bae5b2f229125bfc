"""Label quality you can measure: any label set scored against the demonstrations
(:mod:`.demonstrations`) and, where a scene truth exists, against what is really in each frame
(:mod:`.against_truth`)."""

from .against_truth import audit_against_truth, overall_truth_table, truth_table
from .demonstrations import (
    FIXTURE_PX,
    RECALL_PX,
    Mean,
    Rate,
    TaskAudit,
    action_key,
    audit,
    fixtures,
    history_count,
    mentions,
    overall_table,
    stated_count,
    table,
)

__all__ = [
    "audit_against_truth",
    "overall_truth_table",
    "truth_table",
    "FIXTURE_PX",
    "RECALL_PX",
    "Mean",
    "Rate",
    "TaskAudit",
    "action_key",
    "audit",
    "fixtures",
    "history_count",
    "mentions",
    "overall_table",
    "stated_count",
    "table",
]
