"""A backtest over events in Postgres: who enters, what each step sends and holds back, and why."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gridjourney.backtest.run import backtest
from gridjourney.policy.model import Policy
from tests.backtest.builders import JOURNEY, append, at, compiled, customer, new, projection

BEFORE = at("2025-12-01T10:00:00")


async def test_a_month_of_events_through_trigger_reentry_policy_and_branches(
    engine: AsyncEngine, policy: Policy
) -> None:
    await append(
        engine,
        [
            *customer("c-sent", BEFORE, phone="+15035550101", email="a@example.com"),
            *customer("c-stop", BEFORE, phone="+15035550102", grants=("sms",), heating="gas"),
            new(
                "consent.changed",
                "c-stop",
                at("2026-01-02T09:00:00"),
                channel="sms",
                purpose="informational",
                granted=False,
                method="sms_reply",
            ),
            *customer("c-night", BEFORE, phone="+15035550103", heating="gas", locale="es"),
            *customer("c-exit", BEFORE, phone="+15035550104", email="e@example.com"),
            *customer("c-low", BEFORE, phone="+15035550105"),
            projection("c-sent", at("2026-01-05T12:00:00")),
            projection("c-stop", at("2026-01-05T12:00:00")),
            projection("c-night", at("2026-01-05T23:00:00")),
            projection("c-exit", at("2026-01-06T12:00:00")),
            new("bill.issued", "c-exit", at("2026-01-07T12:00:00"), amount=150.0),
            projection("c-low", at("2026-01-06T12:00:00"), amount=50.0),
            projection("c-sent", at("2026-01-10T12:00:00")),  # inside the 30-day window
        ],
    )
    report = await backtest(engine, compiled(), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))

    assert (report.triggers_matched, report.entered) == (5, 4)
    assert report.blocked_by_reentry == {"once_per_window": 1}
    assert report.exits == {"completed": 3, "bill.issued": 1}
    alert, pause, route, tips = (report.steps[s] for s in ("alert", "pause", "route", "tips"))
    assert alert.reached == 4 and alert.examples == ["c-sent", "c-stop", "c-night", "c-exit"]
    # the night trigger is deferred to 08:00 and then sent; es has no template folder here: as sent
    assert alert.messages == {("sms", "nudge", "en"): 2, ("sms", "nudge", "es"): 1}
    assert alert.deferred == 1
    assert (alert.refused, alert.suppressed) == (1, {"stop": 1, "no_consent": 1})  # one per channel tried
    assert (pause.reached, route.reached) == (4, 3)
    assert route.outcomes == {"tips": 1, "end": 2}
    assert tips.examples == ["c-sent"] and tips.messages == {("email", "tips", "en"): 1}
    summary = report.as_json()
    assert summary["messages_by_channel"] == {"email": 1, "sms": 3}
    assert summary["events_in_range"] == 8


async def test_a_period_without_events_reports_none(engine: AsyncEngine, policy: Policy) -> None:
    await append(engine, [*customer("c-1", BEFORE, phone="+15035550101")])
    report = await backtest(engine, compiled(), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))
    assert (report.events_in_range, report.entered, report.steps["alert"].reached) == (0, 0, 0)


async def test_state_appended_with_a_trigger_counts_at_its_moment_and_a_later_one_at_its_own_time(
    engine: AsyncEngine, policy: Policy
) -> None:
    """One append (as a bulk import writes a log): the consent posted with the trigger at its moment
    counts for it, though the log orders it after; a STOP the same append dates two weeks later
    refuses only the alerts after it (the replay's clock is the events' time)."""
    moment = at("2026-01-06T12:00:00")
    await append(
        engine,
        [
            *customer("c-year", BEFORE, phone="+15035550101", grants=("sms",)),
            projection("c-year", at("2026-01-05T12:00:00")),
            new(
                "consent.changed",
                "c-year",
                at("2026-01-20T09:00:00"),
                channel="sms",
                purpose="informational",
                granted=False,
                method="sms_reply",
            ),
            projection("c-year", at("2026-02-10T12:00:00")),  # a new 30-day window
            *customer("c-moment", BEFORE, phone="+15035550102", grants=()),
            projection("c-moment", moment),
            new(
                "consent.changed",
                "c-moment",
                moment,
                channel="sms",
                purpose="informational",
                granted=True,
                method="web",
            ),
        ],
    )
    report = await backtest(engine, compiled(), policy, at("2026-01-01T00:00:00"), at("2026-03-01T00:00:00"))

    alert = report.steps["alert"]
    assert (report.entered, alert.reached) == (3, 3)
    assert alert.messages == {("sms", "nudge", "en"): 2}  # c-year's first, c-moment's
    assert (alert.refused, alert.suppressed) == (1, {"stop": 1, "no_consent": 1})  # c-year's second


async def test_history_appended_with_a_trigger_at_its_moment_counts_in_its_condition(
    engine: AsyncEngine, policy: Policy
) -> None:
    """had() reads the history projection, which the router waits for as it waits for the customers'."""
    text = JOURNEY.replace(
        'when: "event.projected_amount > 100"',
        "when: 'had(\"consent.changed\", within=1d, where=event.granted)'",
    )
    moment = at("2026-01-06T12:00:00")
    grant = {"channel": "sms", "purpose": "informational", "granted": True, "method": "web"}
    await append(
        engine,
        [
            *customer("c-granted", BEFORE, phone="+15035550101", grants=()),
            projection("c-granted", moment),
            new("consent.changed", "c-granted", moment, **grant),
            *customer("c-later", BEFORE, phone="+15035550102", grants=()),
            projection("c-later", moment),
            new("consent.changed", "c-later", at("2026-01-06T12:00:01"), **grant),
        ],
    )
    period = (at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))
    report = await backtest(engine, compiled(text), policy, *period)
    assert (report.triggers_matched, report.entry_examples) == (1, ["c-granted"])
    assert report.steps["alert"].messages == {("sms", "nudge", "en"): 1}


async def test_a_consent_change_older_than_the_one_in_force_is_not_applied(
    engine: AsyncEngine, policy: Policy
) -> None:
    """As the consents projection: a CRM grant dated before a STOP but arriving after it changes
    nothing, so the alert after it is refused as the engine refuses it."""
    stop = {"channel": "sms", "purpose": "informational", "granted": False, "method": "sms_reply"}
    await append(engine, [*customer("c-1", BEFORE, phone="+15035550101", grants=("sms",))])
    await append(engine, [new("consent.changed", "c-1", at("2026-01-10T09:00:00"), **stop)])
    stale_grant = {**stop, "granted": True, "method": "crm"}
    await append(engine, [new("consent.changed", "c-1", at("2026-01-05T09:00:00"), **stale_grant)])
    await append(engine, [projection("c-1", at("2026-01-12T12:00:00"))])
    report = await backtest(engine, compiled(), policy, at("2026-01-01T00:00:00"), at("2026-02-01T00:00:00"))

    alert = report.steps["alert"]
    assert (report.entered, alert.reached, alert.messages) == (1, 1, {})
    assert alert.suppressed == {"stop": 1, "no_consent": 1}
