// Deployment defaults and the shapes every layer shares (config defaults, the rollout workflow, the endpoint
// server, the targets). A leaf module: it imports nothing of ours.

/** Where models are deployed: the embedded endpoint server, or Azure ML managed online endpoints. */
export const TARGET_KINDS = ['local', 'azure'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

/** How a deployment runs, where the platform asks (Azure: VM size and instance count). */
export interface ComputeSpec {
  instanceType: string;
  instanceCount: number;
  /** The local endpoint's capture sampling (config capture_percent); absent: 100. */
  capturePercent?: number;
}

/** Standard_F4s_v2: Azure's suggested starting size; the original's F2s_v2 was often too small to start. */
export const DEFAULT_COMPUTE_SPEC: ComputeSpec = { instanceType: 'Standard_F4s_v2', instanceCount: 1 };

/** The bound on one long target operation (provisioning, a traffic change, a deletion): config deployment_timeout. */
export const DEFAULT_DEPLOYMENT_TIMEOUT = '30m';

export interface DeploymentMetrics {
  requests: number;
  errors: number;
  errorRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  /** Mirrored (shadow) predictions compared with the live deployment's, and how many agreed. */
  shadowCompared?: number;
  shadowAgreed?: number;
  /** What limits these numbers, when something does (e.g. a platform's metric grain). */
  note?: string;
}
