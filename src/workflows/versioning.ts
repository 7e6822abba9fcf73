// Worker Deployment Versioning: how each workflow type behaves when a new build of the worker becomes current
// (README "Upgrading modelship" says why). AUTO_UPGRADE: the run moves to the new build at its next workflow task,
// so every change to its commands must be guarded with patched() (the history corpus in CI checks it).
// PINNED: the run stays on the build that started it until it ends.
import type { VersioningBehavior } from '@temporalio/common';
import { setWorkflowOptions } from '@temporalio/workflow';
import { blueGreenRollout } from './blue-green-rollout';
import { modelRelease } from './model-release';
import { deployRegisteredModel, rollbackEndpoint } from './operator';
import { stackCheck } from './stack-check';

export const VERSIONING_BEHAVIOURS = {
  // Waits up to approval_timeout (a day by default) and bakes for hours: a pinned release would hold its old
  // build alive that long, and a fix could never reach it.
  modelRelease: 'AUTO_UPGRADE',
  // Holds live traffic and the compensations that undo it: it must keep making progress when the worker is
  // replaced (a single `modelship dev` worker cannot keep the old build running for it).
  blueGreenRollout: 'AUTO_UPGRADE',
  deployRegisteredModel: 'AUTO_UPGRADE',
  rollbackEndpoint: 'AUTO_UPGRADE',
  // Seconds long, and its point is to prove that the build which started it serves both queues.
  stackCheck: 'PINNED',
} as const satisfies Record<string, VersioningBehavior>;

const workflows = { modelRelease, blueGreenRollout, deployRegisteredModel, rollbackEndpoint, stackCheck };
for (const [name, fn] of Object.entries(workflows)) {
  setWorkflowOptions({ versioningBehavior: VERSIONING_BEHAVIOURS[name as keyof typeof VERSIONING_BEHAVIOURS] }, fn as () => Promise<unknown>);
}
