// Starting a model's release from inside a workflow (a schedule's run, a monitor's alarm), at most one per model:
// the release runs under the model's one workflow id, so a start that finds it running is refused by Temporal
// itself, whoever started the other one. Deterministic code only.
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { CancellationScope, ParentClosePolicy, startChild, uuid4, workflowInfo, type ChildWorkflowHandle } from '@temporalio/workflow';
import { MODEL_NAME } from '../shared/search-attributes';
import { releaseIdOf, releaseWorkflowIdOf, type ReleaseStart, type ReleaseTemplate, type ReleaseTrigger } from './release-api';
import { triggerLine } from './trigger-api';
import type { ScheduledReleaseInput, ScheduledReleaseResult } from './release-starter-api';
import type { modelRelease } from './model-release';

export interface StartedRelease {
  start: ReleaseStart;
  /** The release, when this call started it. */
  handle?: ChildWorkflowHandle<typeof modelRelease>;
}

/**
 * Starts the release of template's model under release-<model>, or reports the one running there. The release
 * outlives the caller (ABANDON) and is never cancelled with it: a schedule's or monitor's run may end or be
 * cancelled while the release waits for its approval.
 */
export async function startReleaseOnce(template: ReleaseTemplate, trigger: ReleaseTrigger): Promise<StartedRelease> {
  const model = template.config.model_name;
  const workflowId = releaseWorkflowIdOf(model);
  const releaseId = releaseIdOf(model, new Date(), uuid4());
  try {
    const handle = await CancellationScope.nonCancellable(() =>
      startChild<typeof modelRelease>('modelRelease', {
        workflowId,
        args: [{ ...template, releaseId, trigger }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
        typedSearchAttributes: [{ key: MODEL_NAME, value: model }],
        staticSummary: `Release ${model} (${triggerLine(trigger)})`,
      }),
    );
    return { start: { started: true, workflowId, releaseId }, handle };
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    return { start: { started: false, workflowId, running: workflowId } };
  }
}

/** A retraining schedule's run: starts the release (or finds one running) and, when it started it, waits for its end. */
export async function scheduledRelease(input: ScheduledReleaseInput): Promise<ScheduledReleaseResult> {
  const at = workflowInfo().startTime.toISOString();
  const { start, handle } = await startReleaseOnce(input.release, { kind: 'schedule', schedule: input.schedule, at });
  if (!handle) return start;
  // A failed release fails this run too, so a schedule with pauseOnFailure pauses and says why.
  const result = await handle.result();
  return { ...start, outcome: result.outcome };
}
