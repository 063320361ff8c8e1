"""One message of a backtest, judged as the send activity judges it (activities/send.py): the
compliance policy's `judge` (activities/eligibility.py) over the customer's facts at that moment, and
the locale its template renders in (content/render.py's fallback: the customer's, its language, `en`).
Nothing is rendered or sent."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from gridjourney.activities.eligibility import judge
from gridjourney.backtest.customers import Customers, refusal_reason
from gridjourney.content.render import Templates, candidate_locales, template_exists
from gridjourney.dsl.schema import Channel, CompiledJourney, SendSpec, SendStep
from gridjourney.policy.model import Policy
from gridjourney.workflows.contracts import SendMessageInput

QUIET_HOURS = "quiet_hours"  # a message that may not wait, refused by quiet hours
UNKNOWN_CUSTOMER = "unknown_customer"  # as activities/send.py records a customer it cannot load


@dataclass(frozen=True)
class Judgement:
    channel: Channel | None  # the channel it goes out on; None: refused or deferred
    locale: str | None
    deferred_until: datetime | None  # quiet hours: ask again then
    refusals: tuple[str, ...] = ()  # one reason per channel tried (`stop` for a STOP reply)


class MessageJudge:
    def __init__(
        self,
        journey: CompiledJourney,
        policy: Policy,
        customers: Customers,
        channels: Collection[Channel],
        templates_dir: Templates | None,
    ) -> None:
        self.journey, self.policy, self.customers = journey, policy, customers
        self.channels, self.templates_dir = channels, templates_dir
        self._locales: dict[tuple[str, str, str], str] = {}

    def judge(self, instance_id: str, customer_id: str, step: SendStep, now: datetime) -> Judgement:
        return self.judge_send(instance_id, customer_id, step.id, step.send, now)

    def judge_send(
        self,
        instance_id: str,
        customer_id: str,
        step_id: str,
        send: SendSpec,
        now: datetime,
        *,
        can_defer: bool = True,
    ) -> Judgement:
        """`send` under `step_id`; without `can_defer` (a cohort's on_update notice), quiet hours
        refuse the message (`quiet_hours`), as activities/batch_decisions.py does."""
        state = self.customers.get(customer_id)
        if state is None:
            return Judgement(None, None, None, (UNKNOWN_CUSTOMER,))
        purpose = self.journey.definition.purpose
        request = SendMessageInput(
            idempotency_key=f"{instance_id}:{step_id}",
            customer_id=customer_id,
            journey_id=self.journey.journey_id,
            journey_version=self.journey.version,
            instance_id=instance_id,
            step_id=step_id,
            channels=send.channels,
            template=send.template,
            purpose=purpose,
            sending_hours=send.sending_hours_text(),
            can_defer=can_defer,
        )
        facts = self.customers.facts(self.policy, state, purpose, now)
        decision = judge(self.policy, state.record, request, self.channels, now, facts)
        if decision.deferred_until is not None:
            if not can_defer:
                return Judgement(None, None, None, (QUIET_HOURS,))
            return Judgement(None, None, max(decision.deferred_until, now))
        if decision.channel is None:
            refusals = tuple(
                refusal_reason(state, facts, d.channel, purpose, d.code) for d in decision.checked
            )
            return Judgement(None, None, None, refusals)
        locale = self.locale(decision.channel, send.template, state.record.locale)
        return Judgement(decision.channel, locale, None)

    def locale(self, channel: str, template: str, locale: str) -> str:
        key = (channel, template, locale)
        if key not in self._locales:
            candidates = candidate_locales(locale)
            self._locales[key] = (
                candidates[0]
                if self.templates_dir is None
                else next(
                    (c for c in candidates if template_exists(self.templates_dir, channel, template, c)),
                    candidates[-1],
                )
            )
        return self._locales[key]
