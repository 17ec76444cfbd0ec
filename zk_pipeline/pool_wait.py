"""The job's executor: Dagster's in-process executor, except that a step blocked by a pool sleeps.

Dagster 1.13's in-process executor loops without sleeping while a step waits
for a concurrency-pool slot: ``InstanceConcurrencyContext.
interval_to_next_pending_claim_check`` returns ``min(0, …)``, never a positive
wait, so a run blocked on the ``prover`` pool burned a whole core (~97 %)
until the slot freed. The loop also never looks at the interrupt Dagster
captured, so SIGTERM/SIGINT (a cancel from the UI, a stopping daemon) went
unheard until the slot freed and the step started.

Here the blocked loop sleeps until the next claim check (Dagster's own
back-off, 1 s growing to 15 s), in slices of ``WAKE_S`` so that a captured
SIGTERM/SIGINT ends the run within that time: the interrupt is raised as
Dagster's ``DagsterExecutionInterruptedError``, the run is reported failed
(or canceled, when a cancel was asked for) and the pending claim is
withdrawn. Everything else — steps, retries, events — is Dagster's executor.

``materialize()`` and ``execute_in_process()`` ignore a job's executor and
keep Dagster's loop; every run launched through the instance (schedule,
sensor, backfill, UI, the API's GraphQL launch) uses this one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from dagster import executor
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, _core_in_process_executor_creation
from dagster._core.errors import DagsterExecutionInterruptedError
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.execution.api import ExecuteRunWithPlanIterable
from dagster._core.execution.context_creation_job import PlanExecutionContextManager
from dagster._core.execution.plan.execute_plan import inner_plan_execution_iterator
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.executor.in_process import InProcessExecutor
from dagster._utils.interrupts import pop_captured_interrupt

#: Longest sleep between two looks at a captured SIGTERM/SIGINT while a step waits for a slot.
WAKE_S = 0.5


class SleepingConcurrencyContext(InstanceConcurrencyContext):
    """Dagster's slot bookkeeping, with a wait that is a real, interruptible sleep."""

    def interval_to_next_pending_claim_check(self) -> float:
        if not self.has_pending_claims():
            return 0.0
        if pop_captured_interrupt():
            raise DagsterExecutionInterruptedError(
                f"interrupted while waiting for a pool slot (steps {', '.join(self.pending_claim_steps())})")
        now = time.time()
        due = [at - now for at in self._pending_timeouts.values()]
        return max(0.0, min([WAKE_S, *due]))


def _sleeping_iterator(job_context, execution_plan, instance_concurrency_context=None):
    with SleepingConcurrencyContext(job_context.instance, job_context.dagster_run) as concurrency:
        yield from inner_plan_execution_iterator(job_context, execution_plan, concurrency)


class SleepingInProcessExecutor(InProcessExecutor):
    def execute(self, plan_context, execution_plan) -> Iterator[DagsterEvent]:
        steps = execution_plan.step_keys_to_execute
        yield DagsterEvent.engine_event(plan_context, f"Executing steps in process (pid: {os.getpid()})",
                                        event_specific_data=EngineEventData.in_process(os.getpid(), steps))
        yield from iter(ExecuteRunWithPlanIterable(
            execution_plan=plan_context.execution_plan,
            iterator=_sleeping_iterator,
            execution_context_manager=PlanExecutionContextManager(
                job=plan_context.job, retry_mode=plan_context.retry_mode,
                execution_plan=plan_context.execution_plan, run_config=plan_context.run_config,
                dagster_run=plan_context.dagster_run, instance=plan_context.instance,
                raise_on_error=plan_context.raise_on_error, output_capture=plan_context.output_capture,
                step_dependency_config=self.step_dependency_config,
            ),
        ))
        yield DagsterEvent.engine_event(plan_context, f"Finished steps in process (pid: {os.getpid()})",
                                        event_specific_data=EngineEventData.in_process(os.getpid(), steps))


@executor(name="in_process", config_schema=IN_PROC_CONFIG)
def sleeping_in_process_executor(init_context) -> SleepingInProcessExecutor:
    """In-process execution whose pool waits sleep and stop on SIGTERM/SIGINT."""
    base = _core_in_process_executor_creation(init_context.executor_config)
    return SleepingInProcessExecutor(retries=base.retries, step_dependency_config=base.step_dependency_config,
                                     marker_to_close=base.marker_to_close)
