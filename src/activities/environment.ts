// Activities that report what a worker can reach and run. They prove, through the real task queues, that a worker
// serves each queue with a working set-up: `modelship dev` waits on them, `modelship check` prints them.
import { execFile } from 'node:child_process';
import { hostname } from 'node:os';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { pythonChildEnv, venvExecutable } from '../config/environment';
import type { TrainerReport, WorkerReport } from '../workflows/stack-check-api';

const execFileAsync = promisify(execFile);

export interface EnvironmentDeps {
  mlflowUri: string;
}

const TRAINER_PROBE = `
import json, sys, importlib
names = ["sklearn", "skl2onnx", "onnx", "onnxruntime", "numpy", "pandas", "mlflow"]
print(json.dumps({"python": sys.version.split()[0], "packages": {n: importlib.import_module(n).__version__ for n in names}}))
`;

export function createEnvironmentActivities(deps: EnvironmentDeps) {
  return {
    /** What the orchestration worker is, and whether it reaches the MLflow server. */
    async inspectWorker(): Promise<WorkerReport> {
      let healthy = false;
      let detail: string;
      try {
        const response = await fetch(`${deps.mlflowUri}/health`, { signal: AbortSignal.timeout(5_000) });
        healthy = response.ok;
        detail = `HTTP ${response.status}`;
      } catch (error) {
        detail = (error as Error).message;
      }
      return { host: hostname(), pid: process.pid, node: process.version, mlflow: { uri: deps.mlflowUri, healthy, detail } };
    },

    /** Imports the trainer's libraries in the project's Python environment and reports their versions. */
    async inspectTrainerEnvironment(): Promise<TrainerReport> {
      let python: string;
      try {
        python = venvExecutable('python');
      } catch (error) {
        throw ApplicationFailure.nonRetryable((error as Error).message, 'TrainerEnvironmentMissing');
      }
      try {
        const { stdout } = await execFileAsync(python, ['-c', TRAINER_PROBE], { env: pythonChildEnv(), timeout: 60_000 });
        const parsed = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Omit<TrainerReport, 'host' | 'pid'>;
        return { host: hostname(), pid: process.pid, ...parsed };
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        throw ApplicationFailure.nonRetryable(
          `the trainer's Python packages do not import: ${stderr.trim().split('\n').slice(-3).join(' | ') || (error as Error).message}. ` +
            `Run 'npm install' to repair the Python environment.`,
          'TrainerEnvironmentBroken',
        );
      }
    },
  };
}
