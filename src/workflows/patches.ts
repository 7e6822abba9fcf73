// Patch ids of this build, by lifecycle stage (CONTRIBUTING.md "Changing workflow code"). Releases recorded by the
// builds from the compatibility floor on (test/histories) carry markers of these ids; the ids stay, as
// deprecatePatch() calls on the only path left, until no run recorded before their deprecation can still be open.

/** Deprecated: the old paths are gone; deprecatePatch() keeps histories that hold the marker replaying. */
export const RETIRED_PATCHES = {
  /** Release, deploy and rollback hold the endpoint (one rollout per endpoint). */
  endpointLock: 'endpoint-lock',
  /** The approval gate: signed N-of-M approvals and the verify activity. */
  signedApprovals: 'signed-approvals',
  /** The release writes its review before approval and after the rollout. */
  reviewReport: 'review-report',
  /** Training as a search spread over the training task queue. */
  distributedTraining: 'distributed-training-search',
} as const;
