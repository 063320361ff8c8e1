"""EventRouter: the handler of the "router" subscription.

For each event, in log order: start or signal the cohort runs it concerns (router/cohorts.py), start
the per-customer journeys it triggers (deterministic workflow ids
make this idempotent, so redelivery starts nothing new), then signal the customer's running instances
of journeys that listen for its type (workflows ignore an event id they have seen). The router waits
for the projections to reach an event before handling it, so a journey started by `customer.created`
finds the customer's row; but never longer than `projections_wait` seconds (then it routes with what
the projections know, so a stalled projection delays journeys without stopping them) and never past
a stop.

A batch is routed customer by customer, up to `concurrency` customers at once: each customer's events
in log order, one after the other (a journey's start before the signal of the next event); an event
without a customer (a DR event, an outage) is routed alone, after everything before it in the batch
and before everything after it.

A consent change that did not apply (older than the consent in force when it arrived: the consents
projection logged it and kept the newer one) is not routed: it changed nothing, so it starts,
advances and ends no journey (projections/consents.py `applied_on_arrival`, the projection's rule).

A batch reads the journeys once; each event that may start runs (its type is in an active journey's
trigger) is routed holding the start gates of those journeys shared (router/start_gate.py), after
reading again, under them, whether they are retired: a retirement waits only for the event in
flight that may start its journey's runs, and once it returns the batch's next events start none
(`skipped_retired` counts the events that found a journey retired since the batch read them).

With tracing on, each event is routed in a span that continues the trace it was appended in (the
`traceparent` the store kept with it): the workflows it starts or signals join that trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.dsl import registry
from gridjourney.dsl.schema import CompiledJourney
from gridjourney.entry.enter import enter_journey
from gridjourney.events.failures import Interrupted
from gridjourney.events.models import StoredEvent
from gridjourney.events.subscription import Subscription, load_checkpoint, wait_any
from gridjourney.observability import tracing
from gridjourney.projections import consents
from gridjourney.projections import runner as projections
from gridjourney.router import queries, start_gate
from gridjourney.router.cohorts import CohortRouting
from gridjourney.router.facts import trigger_facts
from gridjourney.router.matching import listened_event_types, trigger_conditions, triggered_journeys
from gridjourney.workflows.contracts import JOURNEY_EVENT_SIGNAL, EventRef

log = logging.getLogger(__name__)

SUBSCRIPTION_NAME = "router"
# With the projections in this process, how long the router waits on their moves alone before it also
# reads their checkpoint (another process, a rebuild, may have moved it): a read less per routed batch.
IN_PROCESS_TRUSTED_FOR = 0.5


# The engine's own records are not routed (a journey reacting to its own bookkeeping could loop),
# except what a customer said: an inbound reply such as "OUT" after a restoration notice.
UNROUTED_PREFIXES = ("journey.", "message.", "suppression.", "push.")
CONSENT_CHANGED = consents.PROJECTION_EVENT_TYPE
ROUTED_ENGINE_EVENTS = frozenset({"message.received"})


def is_routed(event_type: str) -> bool:
    return event_type in ROUTED_ENGINE_EVENTS or not event_type.startswith(UNROUTED_PREFIXES)


def routed_journeys(latest: registry.LatestJourneys) -> list[CompiledJourney]:
    """The journeys a batch is routed to, read with each batch (so a retirement holds from the next
    batch, in every router process): a retired journey without its triggers, so that it starts nothing
    (per customer or cohort) while its running runs still hear the events they wait for or exit on."""
    return latest.active + [without_triggers(journey) for journey in latest.retired]


def without_triggers(journey: CompiledJourney) -> CompiledJourney:
    """A retired journey as the router sees it: it starts nothing, its runs going still hear events."""
    return journey.model_copy(update={"definition": journey.definition.model_copy(update={"trigger": []})})


def startable_journey_ids(event_type: str, journeys: list[CompiledJourney]) -> set[str]:
    """The journeys an event of `event_type` may start (per customer or cohort), `when` aside."""
    return {
        journey.journey_id
        for journey in journeys
        if any(trigger.event == event_type for trigger in journey.definition.trigger)
    }


def event_ref(event: StoredEvent) -> EventRef:
    return EventRef(
        event_id=str(event.event_id),
        type=event.type,
        customer_id=event.customer_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
        position=event.position,
    )


class EventRouter:
    def __init__(
        self,
        engine: AsyncEngine,
        client: Client,
        *,
        task_queue: str,
        send_task_queue: str,
        wait_for_projections: bool = True,
        projections_wait: float = 30.0,
        stop: asyncio.Event | None = None,
        cohort_batch_size: int = 500,
        cohort_concurrency: int = 8,
        concurrency: int = 16,
        projections_subscription: Subscription | None = None,
    ) -> None:
        """`projections_subscription`: the projections' when they run in this process (stack.py
        RouterSide): the wait for them then ends as soon as they fold the event, not at the next poll."""
        self.engine = engine
        self.projections_subscription = projections_subscription
        self.client = client
        self.task_queue = task_queue
        self.send_task_queue = send_task_queue
        self.wait_for_projections = wait_for_projections
        self.projections_wait = projections_wait
        self.concurrency = concurrency
        self.stop = stop or asyncio.Event()
        """Set when the router's subscription stops: a wait for the projections ends at once."""
        self._started = 0
        self._signalled = 0
        self._not_applied = 0
        self._skipped_retired = 0
        self.cohorts = CohortRouting(
            engine,
            client,
            task_queue=task_queue,
            send_task_queue=send_task_queue,
            batch_size=cohort_batch_size,
            concurrency=cohort_concurrency,
        )

    @property
    def started(self) -> int:
        """Per-customer instances and cohort runs started."""
        return self._started + self.cohorts.started

    @property
    def signalled(self) -> int:
        return self._signalled + self.cohorts.signalled

    @property
    def not_applied(self) -> int:
        """Consent changes not routed: they did not change the consent in force."""
        return self._not_applied

    @property
    def skipped_retired(self) -> int:
        """Events that found a journey they may start retired since their batch read the journeys."""
        return self._skipped_retired

    async def handle(self, batch: list[StoredEvent]) -> None:
        # A cohort send's batches hold only message events: nothing to wait for, load or route.
        routed = [event for event in batch if is_routed(event.type)]
        if not routed:
            return
        if self.wait_for_projections:
            await self._projections_reach(routed[-1].position)
            if self.stop.is_set():
                raise Interrupted("the router is stopping")
        traceparents: dict[int, str] = {}
        if tracing.enabled():
            traceparents = await queries.traceparents(self.engine, [event.position for event in routed])
        journeys = await self._journeys()  # a retirement since is read again per event (_route_one)
        lanes: dict[str, list[StoredEvent]] = {}
        for event in routed:
            if event.customer_id is not None:
                lanes.setdefault(event.customer_id, []).append(event)
                continue
            await self._route_lanes(lanes, journeys, traceparents)  # what came before it, first
            lanes = {}
            await self._route_one(event, journeys, traceparents)
        await self._route_lanes(lanes, journeys, traceparents)

    async def _journeys(self) -> list[CompiledJourney]:
        """The journeys this batch is routed to, as the registry holds them now."""
        return routed_journeys(await registry.latest_with_retired(self.engine))

    async def _route_lanes(
        self,
        lanes: dict[str, list[StoredEvent]],
        journeys: list[CompiledJourney],
        traceparents: dict[int, str],
    ) -> None:
        """Each customer's events in order; customers side by side, `concurrency` at a time."""
        if not lanes:
            return
        slots = asyncio.Semaphore(self.concurrency)

        async def lane(events: list[StoredEvent]) -> None:
            async with slots:
                for event in events:
                    await self._route_one(event, journeys, traceparents)

        outcomes = await asyncio.gather(*(lane(events) for events in lanes.values()), return_exceptions=True)
        # Every lane ran to its end or its error: the batch is routed again (starts and signals are
        # idempotent), and the subscription sees the first error as it would have alone.
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _route_one(
        self, event: StoredEvent, journeys: list[CompiledJourney], traceparents: dict[int, str]
    ) -> None:
        ref = event_ref(event)
        with self._span(event, traceparents.get(event.position)):
            if event.type == CONSENT_CHANGED and not await self._consent_applied(event):
                return
            startable = startable_journey_ids(event.type, journeys)
            if not startable:  # it only advances runs going: no gate to hold
                await self._route_event(ref, journeys)
                return
            # The gates of the journeys it may start, around this one event's starts: a retirement of
            # one of them waits for this event only, and the next event reads it here.
            async with start_gate.starting_runs(self.engine, startable) as retired:
                if retired:
                    journeys = self._without_retired(event, journeys, retired)
                await self._route_event(ref, journeys)

    async def _route_event(self, event: EventRef, journeys: list[CompiledJourney]) -> None:
        # events about a DR event or an outage (no customer) and a customer's (a reply OUT) alike
        await self.cohorts.route(event, journeys)
        if event.customer_id is not None:
            await self._route(event, event.customer_id, journeys)

    def _without_retired(
        self, event: StoredEvent, journeys: list[CompiledJourney], retired: set[str]
    ) -> list[CompiledJourney]:
        """The batch's journeys with those retired since it read them as retired ones: no triggers."""
        self._skipped_retired += 1
        log.info(
            "router: %s retired since this batch began; the event at %d starts no run of it",
            ", ".join(sorted(retired)),
            event.position,
        )
        return [
            without_triggers(journey) if journey.journey_id in retired else journey for journey in journeys
        ]

    async def _consent_applied(self, event: StoredEvent) -> bool:
        """A consent change older than the one in force when it arrived was logged, not applied (the
        consents projection): it changed nothing, so it starts, advances and ends no journey."""
        async with self.engine.connect() as conn:
            applied = await consents.applied_on_arrival(conn, event)
        if not applied:
            self._not_applied += 1
            log.info(
                "router: consent.changed at %d did not apply (older than the consent in force); not routed",
                event.position,
            )
        return applied

    def _span(self, event: StoredEvent, traceparent: str | None) -> contextlib.AbstractContextManager[object]:
        if not tracing.enabled():
            return contextlib.nullcontext()
        return trace.get_tracer(__name__).start_as_current_span(
            f"route {event.type}",
            context=tracing.context_of(traceparent),
            kind=SpanKind.CONSUMER,
            attributes={"gridjourney.event.position": event.position, "gridjourney.event.type": event.type},
        )

    async def _route(self, event: EventRef, customer_id: str, journeys: list[CompiledJourney]) -> None:
        # Only a trigger condition reads the customer: without one, a read less per event.
        needed = trigger_conditions(event.type, journeys)
        customer = await queries.customer_namespace(self.engine, customer_id) if needed else None
        facts = await trigger_facts(self.engine, event, customer, journeys)  # None unless a `when` asks
        for journey in triggered_journeys(event, journeys, customer, facts):
            result = await enter_journey(
                self.engine,
                self.client,
                journey,
                customer_id,
                event,
                position=event.position,
                task_queue=self.task_queue,
                send_task_queue=self.send_task_queue,
            )
            self._started += int(result.started)
        listeners = {
            journey.journey_id for journey in journeys if event.type in listened_event_types(journey)
        }
        if not listeners:
            return
        for instance_id, _journey_id in await queries.open_instances(self.engine, customer_id, listeners):
            await self._signal(instance_id, event)

    async def _signal(self, instance_id: str, event: EventRef) -> None:
        handle = self.client.get_workflow_handle(instance_id)
        try:
            await handle.signal(JOURNEY_EVENT_SIGNAL, event)
            self._signalled += 1
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            # The instance has finished: nothing to deliver, and nothing to deliver to it again.
            await queries.mark_closed(self.engine, instance_id)

    async def _projections_reach(self, position: int) -> None:
        """Wait until the projections have folded `position`, `projections_wait` seconds at most."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        delay = 0.01  # the projections usually fold an event within tens of milliseconds
        told = False
        in_process = self.projections_subscription
        while True:
            moved = in_process.next_move() if in_process is not None else None
            if in_process is not None and (in_process.position or 0) >= position:
                return  # folded and committed in this process: no need to ask the database
            waited = loop.time() - started
            trusted = min(IN_PROCESS_TRUSTED_FOR, self.projections_wait)
            if in_process is not None and waited < trusted and not self.stop.is_set():
                # The projections woke for this event as we did: their move wakes us, no query needed.
                await self._pause(trusted - waited, moved)
                continue
            async with self.engine.connect() as conn:
                reached = await load_checkpoint(conn, projections.SUBSCRIPTION_NAME)
            if reached >= position or self.stop.is_set():
                return
            waited = loop.time() - started
            if waited >= self.projections_wait:
                log.warning(
                    "router: the projections are still at %d after %.0fs; routing up to %d without them "
                    "(journeys may see customers as of an earlier event)",
                    reached,
                    waited,
                    position,
                )
                return
            if not told and waited >= 1.0:
                told = True
                log.info(
                    "router: waiting for the projections (at %d) to reach %d, so that journeys see the "
                    "customer as of the event; at most %.0fs",
                    reached,
                    position,
                    self.projections_wait,
                )
            await self._pause(min(delay, self.projections_wait - waited), moved)
            delay = min(delay * 2, 0.2)

    async def _pause(self, seconds: float, moved: asyncio.Event | None) -> None:
        """Sleep `seconds`, or less: until a stop, or until `moved` (the in-process projections moved)."""
        await wait_any(self.stop, *([moved] if moved is not None else []), seconds=seconds)
