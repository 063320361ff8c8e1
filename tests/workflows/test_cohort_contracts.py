"""The cohort contracts' derived values (workflows/cohort_contracts.py)."""

from __future__ import annotations

from gridjourney.dsl.schema import SendSpec
from gridjourney.workflows.cohort_contracts import LEDGER_KEY_LENGTH, CohortSendInput, MemberBatch


def _send(run_id: str, step_id: str) -> CohortSendInput:
    return CohortSendInput(
        batch=MemberBatch(run_id=run_id, step_id=step_id, track="t1", lo=0, hi=10),
        journey_id="j",
        version=1,
        purpose="safety",
        channels=SendSpec.model_validate({"channels": ["sms"], "template": "t"}).channels,
        template="t",
        sending_hours=None,
        subject={},
        visit=1,
        next_step=None,
        next_track=None,
    )


def test_a_ledger_key_is_the_run_step_visit_and_customer_while_it_fits() -> None:
    assert _send("cohort:j:dr-1", "notice").idempotency_key("c-1") == "cohort:j:dr-1:notice:1:c-1"


def test_a_ledger_key_too_long_for_the_ledger_is_a_stable_digest() -> None:
    send = _send("cohort:" + "j" * 64 + ":" + "k" * 100, "outage.etr_updated#12")
    long_customer = "c" * 100
    key = send.idempotency_key(long_customer)
    assert len(key) <= LEDGER_KEY_LENGTH
    assert key == send.idempotency_key(long_customer) != send.idempotency_key(long_customer + "x")
