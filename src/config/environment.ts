// Connection settings and machine-local paths: only ever from the environment, never from a release config file
// (which is committed and travels in workflow history). Temporal's own settings are read by @temporalio/envconfig
// (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE, TEMPORAL_CONFIG_FILE).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';

/** The project checkout (two levels above this file, in src/ and in dist/ alike). */
export const projectRoot = resolve(__dirname, '..', '..');

export const DEFAULT_TEMPORAL_ADDRESS = '127.0.0.1:7233';
export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_MLFLOW_URI = 'http://127.0.0.1:5000';

export interface TaskQueues {
  /** Workflows and light activities (data checks, registry, deployment targets). */
  orchestration: string;
  /** CPU-heavy training activities, concurrency-limited; served apart from orchestration in production. */
  training: string;
}

export function taskQueues(env: NodeJS.ProcessEnv = process.env): TaskQueues {
  return {
    orchestration: env.MODELSHIP_TASK_QUEUE || 'modelship',
    training: env.MODELSHIP_TRAINING_TASK_QUEUE || 'modelship-training',
  };
}

/** Temporal connection options and namespace, from Temporal's standard environment configuration. */
export function temporalConnectConfig(env: NodeJS.ProcessEnv = process.env): Required<ClientConnectConfig> {
  const overrideEnvVars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  const loaded = loadClientConnectConfig({ overrideEnvVars });
  return {
    connectionOptions: { ...loaded.connectionOptions, address: loaded.connectionOptions.address ?? DEFAULT_TEMPORAL_ADDRESS },
    namespace: loaded.namespace ?? DEFAULT_NAMESPACE,
  };
}

export function mlflowTrackingUri(env: NodeJS.ProcessEnv = process.env): string {
  return (env.MLFLOW_TRACKING_URI || DEFAULT_MLFLOW_URI).replace(/\/+$/, '');
}

/** The local endpoint server (the `local` deployment target). */
export function endpointUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.MODELSHIP_ENDPOINT_URL || 'http://127.0.0.1:5100').replace(/\/+$/, '');
}

/** Where the embedded stack keeps its state (Temporal database, MLflow store, logs). */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.MODELSHIP_HOME || join(projectRoot, '.modelship'));
}

/** The project's Python environment, made by `npm install` (scripts/setup-python.mjs). */
export function venvDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.MODELSHIP_VENV || join(projectRoot, '.venv'));
}

/** Absolute path of an executable in the project's venv, with a clear error when set-up has not run. */
export function venvExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const path = join(venvDir(env), 'bin', name);
  if (!existsSync(path)) {
    throw new Error(`${path} not found: the Python environment is missing or incomplete. Run 'npm install' in ${projectRoot}.`);
  }
  return path;
}

/** The Temporal Web UI base URL for links in reports and CLI output. */
export function temporalUiUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.MODELSHIP_TEMPORAL_UI_URL || 'http://127.0.0.1:8233').replace(/\/+$/, '');
}

/** Environment for Python children (MLflow, trainer): no telemetry calls out of this machine. */
export function pythonChildEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, MLFLOW_DISABLE_TELEMETRY: 'true', DO_NOT_TRACK: 'true', PYTHONUNBUFFERED: '1' };
}
