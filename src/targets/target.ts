// The deployment-target seam: what the rollout workflow needs from any serving platform. Two implementations:
// local (the embedded endpoint server) and azure (Azure ML managed online endpoints). Every method is idempotent.
import type { ComputeSpec, DeploymentMetrics, TargetKind } from '../shared/deployment';

export { DEFAULT_COMPUTE_SPEC, DEFAULT_DEPLOYMENT_TIMEOUT, type ComputeSpec, type DeploymentMetrics } from '../shared/deployment';

export interface DeploymentState {
  name: string;
  modelName?: string;
  modelVersion?: string;
  /** Succeeded, Creating, Failed, … as the platform says. */
  state: string;
  error?: string;
}

export interface EndpointState {
  endpoint: string;
  exists: boolean;
  scoringUri?: string;
  traffic: Record<string, number>;
  mirror?: { deployment: string; percent: number };
  deployments: DeploymentState[];
}

export interface ModelToDeploy {
  name: string;
  version: string;
  /** Local paths of the ONNX file and its input contract (fetched and digest-checked by the caller). */
  modelPath: string;
  contractPath: string;
  sha256: string;
}

/** Long operations: a signal that bounds or cancels the wait, and progress for heartbeats. */
export interface OperationOptions {
  signal?: AbortSignal;
  progress?: (message: string) => void;
}

export interface ProbeResult {
  status: number;
  latencyMs: number;
  body: unknown;
}

export interface DeploymentTarget {
  readonly kind: TargetKind;
  /** Proves the target usable (reachable, credentials accepted) without changing anything; says what it reached. */
  checkAccess(): Promise<string>;
  /** The live state; an error reading it is an error (never "no deployments"). */
  describeEndpoint(endpoint: string): Promise<EndpointState>;
  /** Every endpoint of the target with its state. */
  listEndpoints(): Promise<EndpointState[]>;
  ensureEndpoint(endpoint: string, options?: OperationOptions): Promise<{ created: boolean }>;
  deleteEndpoint(endpoint: string, options?: OperationOptions): Promise<{ deleted: boolean }>;
  /** Deploys (or, on a retry, finds) the model on one deployment at 0 % traffic; a deployment that fails to start is returned as Failed. */
  createDeployment(endpoint: string, deployment: string, model: ModelToDeploy, spec: ComputeSpec, options?: OperationOptions): Promise<DeploymentState>;
  /** Sets the traffic weights (and mirror) and returns once the platform shows them. */
  setTraffic(endpoint: string, traffic: Record<string, number>, mirror?: { deployment: string; percent: number }, options?: OperationOptions): Promise<void>;
  /** Scores records on one deployment directly (not through the traffic split). */
  probe(endpoint: string, deployment: string, body: unknown): Promise<ProbeResult>;
  metrics(endpoint: string, deployment: string, sinceMs: number): Promise<DeploymentMetrics>;
  logs(endpoint: string, deployment: string): Promise<string[]>;
  deleteDeployment(endpoint: string, deployment: string, options?: OperationOptions): Promise<{ deleted: boolean }>;
  endpointKey(endpoint: string): Promise<string>;
}
