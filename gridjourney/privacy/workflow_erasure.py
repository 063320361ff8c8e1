"""Erasure in Temporal: the customer's workflow executions are deleted, running or closed.

Their histories hold the customer's personal data in payloads the codec decrypts with the
deployment's keys (a journey's start input is the trigger event, the send activity's input is the
message), so destroying the customer's key does not shred them. The journeys of a customer carry
the `CustomerId` search attribute (workflows/journey.py, entry/starter.py): every execution found by
it is deleted (deleting a running one terminates it). A NOT_FOUND (deleted meanwhile) counts as done.

Cohort runs carry many customers and no `CustomerId`: they are not deleted. They hold member ids,
not profiles: a member's event reaches a run (its start's trigger, or a signal: a reply, a
`customer.updated`) without its personal fields (router/cohorts.py shared_copy), so what stays in the
run's history until Temporal's retention drops it is the event's type, ids and other fields.

Temporal deletes asynchronously: for a moment after the call, the visibility store may still list
an execution whose deletion is under way. A repeated erasure deletes it again (idempotent).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gridjourney.events.fields import CUSTOMER_ID_PATTERN

# Per call: an erasure request does not hang on a Temporal that stopped answering (it reports pending).
RPC_TIMEOUT = timedelta(seconds=10)


def customer_query(customer_id: str) -> str:
    """The visibility query of the customer's executions. Customer ids cannot hold a quote
    (CUSTOMER_ID_PATTERN), so the id is quoted as it is."""
    if "'" in customer_id or "\\" in customer_id:
        raise ValueError(f"not a customer id (pattern {CUSTOMER_ID_PATTERN}): {customer_id!r}")
    return f"CustomerId = '{customer_id}'"


async def delete_customer_workflows(client: Client, customer_id: str) -> int:
    """Delete every workflow execution of the customer; the number asked to be deleted. Raises
    RPCError (or a connection error) when Temporal cannot be reached: the caller reports it pending."""
    executions = [
        (execution.id, execution.run_id)
        async for execution in client.list_workflows(customer_query(customer_id), rpc_timeout=RPC_TIMEOUT)
    ]
    deleted = 0
    for workflow_id, run_id in executions:
        request = DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
        )
        try:
            await client.workflow_service.delete_workflow_execution(request, timeout=RPC_TIMEOUT)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        deleted += 1
    return deleted  # logged with the customer's id by temporal_erasures.finish
