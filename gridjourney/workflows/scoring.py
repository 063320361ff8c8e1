"""DailyScoringWorkflow: the daily scan of new interval reads for anomalies and bill projections.

Deterministic code only: it pages through the customers with new reads (keyset on customer id) and
hands each page to the scoring activity by name (gridjourney/activities/scoring.py does the I/O).
Only ids and counts cross the history: the reads, features and models stay in the activity, and the
run continues as new after `batches_per_run` pages so a scan of a million customers keeps a small
history.

Which days are new: the run scores the days in (since, through]. `through` defaults to yesterday
(UTC, from the workflow clock); `since` to the `through` of the previous completed run of the
schedule (Temporal hands it over as the last completion result), or, on the first run,
`through - first_lookback_days`.
"""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel, Field
from temporalio import workflow
from temporalio.common import RetryPolicy

SCORING_WORKFLOW = "DailyScoringWorkflow"
NEXT_CUSTOMERS = "scoring.next_customers"
SCORE_CUSTOMERS = "scoring.score_customers"
SCHEDULE_ID = "daily-scoring"
SCHEDULE_HOUR_UTC = 6  # after the overnight MDM deliveries of the day before
MAX_REASONS = 20  # skipped customers reported per batch (all of them are logged by the activity)


class ScanInput(BaseModel):
    since: date | None = Field(None, description="Days after this one are new (exclusive).")
    through: date | None = Field(None, description="Last day scored (inclusive). Default: yesterday.")
    batch_size: int = Field(200, ge=1, le=5000)
    batches_per_run: int = Field(100, ge=1, description="Pages per run before continue-as-new.")
    first_lookback_days: int = Field(3, ge=1)
    anomaly_model_version: int | None = None
    # carried across continue-as-new
    after: str | None = None
    totals: ScanTotals | None = None


class Skip(BaseModel):
    customer_id: str
    reason: str


class ScanTotals(BaseModel):
    batches: int = 0
    customers: int = 0
    anomalies_appended: int = 0
    projections_appended: int = 0
    duplicates: int = 0
    skipped: int = 0
    reasons: list[Skip] = Field(default_factory=list)
    detector: str = ""

    def add(self, batch: ScoreResult) -> ScanTotals:
        return ScanTotals(
            batches=self.batches + 1,
            customers=self.customers + batch.customers,
            anomalies_appended=self.anomalies_appended + batch.anomalies_appended,
            projections_appended=self.projections_appended + batch.projections_appended,
            duplicates=self.duplicates + batch.duplicates,
            skipped=self.skipped + batch.skipped,
            reasons=[*self.reasons, *batch.reasons][:MAX_REASONS],
            detector=batch.detector or self.detector,
        )


class NextCustomersInput(BaseModel):
    since: date
    through: date
    after: str | None = None
    limit: int = 200


class CustomerPage(BaseModel):
    customer_ids: list[str] = Field(default_factory=list)


class ScoreInput(BaseModel):
    customer_ids: list[str]
    since: date
    through: date
    anomaly_model_version: int | None = None


class ScoreResult(BaseModel):
    customers: int = 0
    anomalies_appended: int = 0
    projections_appended: int = 0
    duplicates: int = Field(0, description="Events a rescan found already appended.")
    skipped: int = 0
    reasons: list[Skip] = Field(default_factory=list, description="Up to MAX_REASONS skipped customers.")
    detector: str = Field("", description="Which detector scored, and why when it is the rule baseline.")
    weather: str = Field("", description="The temperatures the features had, or that they were weather-free.")


class ScanResult(BaseModel):
    since: date
    through: date
    totals: ScanTotals


ScanInput.model_rebuild()
ScanTotals.model_rebuild()


def scan_window(request: ScanInput, today: date, previous: ScanResult | None) -> tuple[date, date]:
    """(since, through) of a scan started `today` (UTC), after `previous` (the last completed run)."""
    through = request.through or today - timedelta(days=1)
    if request.since is not None:
        since = request.since
    elif previous is not None and previous.through < through:
        since = previous.through
    else:
        since = through - timedelta(days=request.first_lookback_days)
    return since, through


@workflow.defn(name=SCORING_WORKFLOW)
class DailyScoringWorkflow:
    @workflow.run
    async def run(self, request: ScanInput) -> ScanResult:
        previous: ScanResult | None = None
        if request.since is None and workflow.has_last_completion_result():
            previous = workflow.get_last_completion_result(ScanResult)
        since, through = scan_window(request, workflow.now().date(), previous)
        totals = request.totals or ScanTotals()
        after = request.after
        for _ in range(request.batches_per_run):
            page: CustomerPage = await workflow.execute_activity(
                NEXT_CUSTOMERS,
                NextCustomersInput(since=since, through=through, after=after, limit=request.batch_size),
                result_type=CustomerPage,
                start_to_close_timeout=timedelta(minutes=2),
            )
            if not page.customer_ids:
                return ScanResult(since=since, through=through, totals=totals)
            batch: ScoreResult = await workflow.execute_activity(
                SCORE_CUSTOMERS,
                ScoreInput(
                    customer_ids=page.customer_ids,
                    since=since,
                    through=through,
                    anomaly_model_version=request.anomaly_model_version,
                ),
                result_type=ScoreResult,
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=5, non_retryable_error_types=["InvalidEvent"]),
            )
            totals = totals.add(batch)
            after = page.customer_ids[-1]
        workflow.continue_as_new(
            request.model_copy(update={"since": since, "through": through, "after": after, "totals": totals})
        )
