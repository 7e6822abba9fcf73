// Starting a model's release from a Temporal Schedule (`modelship schedule …`): the scheduled workflow's input and
// result. The schedule's own runs get the action time in their ids, so they cannot de-duplicate releases; each run
// starts the release under the model's one workflow id (releaseWorkflowIdOf) and reports whether it started it.
import type { ReleaseStart, ReleaseTemplate } from './release-api';

/** The Temporal Schedule of a retraining schedule `name`, and the id prefix of the runs it starts. */
export const releaseScheduleId = (name: string) => `retrain-${name}`;

export interface ScheduledReleaseInput {
  /** The schedule's name (its id without the prefix), recorded as the release's trigger. */
  schedule: string;
  /** The release every run starts: the config as it was when the schedule was created or updated. */
  release: ReleaseTemplate;
}

export type ScheduledReleaseResult = ReleaseStart & {
  /** When the release started: how it ended (a schedule with pauseOnFailure pauses on a failed release). */
  outcome?: string;
};
