// All activities, built from their dependencies. Workflows import only the *types* exported here.
import { join } from 'node:path';
import type { TokenCredential } from '@azure/core-auth';
import { mlflowAccess } from '../registry/artifact-store';
import { createApprovalActivities } from './approval';
import { createDataActivities } from './data';
import { createDeploymentActivities } from './deployment';
import { createEndpointLockActivities } from './endpoint-lock';
import { createEnvironmentActivities } from './environment';
import { createEvaluationActivities } from './evaluation';
import { createLocalTestActivities } from './local-tests';
import { createMonitoringActivities } from './monitoring';
import { createRegistryActivities } from './registry';
import { createReportActivities } from './report';
import { createReviewActivities } from './review';
import { createTrainingActivities as createTrainerActivities } from './training';

export interface ActivityDeps {
  mlflowUri: string;
  /** The worker's state directory; fetched artifacts are cached below it. */
  stateDir: string;
  /** The local endpoint server (target local). */
  endpointUrl: string;
  /** Target azure: the credential (DefaultAzureCredential when absent). Never leaves the worker. */
  azureCredential?: TokenCredential;
}

/** Activities for the orchestration task queue: light, I/O-bound work. */
export function createOrchestrationActivities(deps: ActivityDeps) {
  const environment = createEnvironmentActivities(deps);
  // One MLflow client and one artifact store for every activity of this worker.
  const mlflow = mlflowAccess({ mlflowUri: deps.mlflowUri, cacheDir: join(deps.stateDir, 'cache', 'artifacts') });
  return {
    inspectWorker: environment.inspectWorker,
    ...createDataActivities({ stateDir: deps.stateDir }),
    ...createEvaluationActivities(mlflow),
    ...createLocalTestActivities(mlflow),
    ...createRegistryActivities(mlflow),
    ...createReportActivities(mlflow),
    ...createApprovalActivities(),
    ...createReviewActivities(mlflow),
    ...createDeploymentActivities({ ...deps, artifacts: mlflow.artifacts }),
    ...createEndpointLockActivities(),
    ...createMonitoringActivities({ ...mlflow, stateDir: deps.stateDir }),
  };
}

/** Activities for the training task queue: CPU-heavy work in the Python environment. */
export function createTrainingActivities(deps: ActivityDeps) {
  const environment = createEnvironmentActivities(deps);
  return {
    inspectTrainerEnvironment: environment.inspectTrainerEnvironment,
    ...createTrainerActivities({
      ...mlflowAccess({ mlflowUri: deps.mlflowUri, cacheDir: join(deps.stateDir, 'cache', 'artifacts') }),
      stateDir: deps.stateDir,
    }),
  };
}

export type OrchestrationActivities = ReturnType<typeof createOrchestrationActivities>;
export type TrainingActivities = ReturnType<typeof createTrainingActivities>;
