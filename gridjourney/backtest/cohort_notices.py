"""A cohort backtest's `on_update` notices (workflows/cohort_updates.py): when an update of the run's
event is news by the notice's own rules (`moved_by` and `at_most_every`: incidents/etr.py through
workflows/cohort_decisions.py `update_notice_due`; `changed`: `fields_changed`), the members waiting at
its `at_steps` who were told of the event get the notice, and those told nothing yet get the run's
first message instead; they stay where they are. An exit event's notice (a cancelled DR event) goes to
the told members waiting at its steps before the run ends. A notice may not wait: quiet hours refuse
it (`quiet_hours`). Notices are reported as steps `on_update:{event type}`, and count against caps."""

from __future__ import annotations

from typing import Any

from gridjourney.backtest.cohort_members import CohortRun, MemberSteps
from gridjourney.backtest.report import StepReport
from gridjourney.dsl.schema import CohortSpec, SendSpec, SendStep
from gridjourney.workflows.cohort_decisions import fields_changed, update_notice_due
from gridjourney.workflows.contracts import EventRef

NOTICE = "notice"  # the report's kind of an on_update notice


def notice_step_id(event_type: str) -> str:
    return f"on_update:{event_type}"


class CohortNotices(MemberSteps):
    cohort: CohortSpec

    def _notify(self, run: CohortRun, event: EventRef) -> None:
        """The notices of an update event (CohortUpdates._notify), after the subject took it."""
        for n, notice in enumerate(self.cohort.on_update):
            if notice.event != event.type:
                continue
            field = notice.moved_by.field if notice.moved_by is not None else None
            new_value = event.payload.get(field) if field is not None else None
            shown = run.first_shown if run.first_shown is not None else run.subject
            last_value = run.notice_value.get(n, shown.get(field) if field is not None else None)
            told = run.notice_fields.get(n, {name: shown.get(name) for name in notice.changed})
            now_shown: dict[str, Any] = {name: run.subject.get(name) for name in notice.changed}
            if not update_notice_due(notice, last_value, run.notice_at.get(n), new_value, self.now):
                continue
            if notice.changed and not fields_changed(told, now_shown):
                continue
            if self._send_notice(run, event.type, notice.send, notice.at_steps, self._first_send()) > 0:
                # what customers were told is the new baseline; a notice nobody got is none
                run.notice_at[n] = self.now
                run.notice_value[n] = new_value
                if notice.changed:
                    run.notice_fields[n] = now_shown

    def _notify_exit(self, run: CohortRun, event: EventRef) -> None:
        """An exit event's notice to the told members waiting at its steps (CohortUpdates._notify_exit)."""
        for notice in self.cohort.on_update:
            if notice.event == event.type:
                self._send_notice(run, event.type, notice.send, notice.at_steps, None)

    def _first_send(self) -> SendSpec | None:
        step = next((s for s in self.journey.definition.steps if isinstance(s, SendStep)), None)
        return None if step is None else step.send

    def _send_notice(
        self, run: CohortRun, event_type: str, send: SendSpec, at_steps: list[str], untold: SendSpec | None
    ) -> int:
        """The notice to the members waiting at `at_steps` (told: `send`; not told: `untold`, or
        nothing); how many were sent one."""
        step_id = notice_step_id(event_type)
        stats = self.report.steps.setdefault(step_id, StepReport(step_id, NOTICE))
        sent = 0
        waiting = [m for m in run.members.values() if m.open and m.step_id in at_steps and m.waiting]
        for member in waiting:
            spec = send if member.told else untold
            if spec is None:
                continue
            stats.reach(member.customer_id)
            if member.holdout:
                stats.held_out += 1
                continue
            judged = self.messages.judge_send(
                run.run_id, member.customer_id, step_id, spec, self.now, can_defer=False
            )
            if not self._count(stats, judged, spec.template, member.customer_id):
                continue
            member.told = True
            sent += 1
        return sent
