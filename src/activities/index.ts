// All activities, built from their dependencies. Workflows import only the *types* exported here.
import { createEnvironmentActivities, type EnvironmentDeps } from './environment';

export type ActivityDeps = EnvironmentDeps;

/** Activities for the orchestration task queue: light, I/O-bound work. */
export function createOrchestrationActivities(deps: ActivityDeps) {
  const environment = createEnvironmentActivities(deps);
  return { inspectWorker: environment.inspectWorker };
}

/** Activities for the training task queue: CPU-heavy work in the Python environment. */
export function createTrainingActivities(deps: ActivityDeps) {
  const environment = createEnvironmentActivities(deps);
  return { inspectTrainerEnvironment: environment.inspectTrainerEnvironment };
}

export type OrchestrationActivities = ReturnType<typeof createOrchestrationActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
export type { WorkerReport, TrainerReport } from './environment';
