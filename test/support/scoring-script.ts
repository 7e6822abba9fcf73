// The Azure scoring script (python/modelship_scoring/score.py) served as the inference server would call it, by
// serve_local.py on a free port: for tests that compare it with the local endpoint, and as the emulated Azure ML
// deployments' inference server (which runs the code the deployment downloaded, with the deployment's environment).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot, venvExecutable } from '../../src/config/environment';

export interface ScoringScript {
  port: number;
  stop(): void;
}

export interface ScoringScriptOptions {
  /** The folder holding score.py and its modules (AML_APP_ROOT); the repository's by default. */
  appRoot?: string;
  /** More environment variables (a deployment's, the data collector agent's address). */
  env?: Record<string, string>;
  /** Receives every line the script writes (stdout and stderr); without it stderr goes to the test's output. */
  log?: (line: string) => void;
}

/** Starts score.py on the model folder `modelDir` (AZUREML_MODEL_DIR) and resolves once it listens. */
export async function startScoringScript(
  modelDir: string,
  model: { name: string; version: string; deployment: string },
  options: ScoringScriptOptions = {},
): Promise<ScoringScript> {
  const scoringDir = join(projectRoot, 'python', 'modelship_scoring');
  const child = spawn(venvExecutable('python'), [join(scoringDir, 'serve_local.py'), '0'], {
    cwd: options.appRoot ?? scoringDir,
    env: {
      ...process.env,
      AZUREML_MODEL_DIR: modelDir,
      MODELSHIP_MODEL_NAME: model.name,
      MODELSHIP_MODEL_VERSION: model.version,
      MODELSHIP_DEPLOYMENT: model.deployment,
      ...(options.appRoot ? { AML_APP_ROOT: options.appRoot } : {}),
      ...options.env,
    },
    stdio: ['ignore', 'pipe', options.log ? 'pipe' : 'inherit'],
  });
  const stop = () => void child.kill('SIGTERM');
  const lines = (chunk: Buffer) =>
    chunk
      .toString()
      .split('\n')
      .filter((line) => line.trim())
      .forEach((line) => options.log?.(line));
  child.stderr?.on('data', lines);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        lines(chunk);
        const match = /listening (\d+)/.exec(chunk.toString());
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`score.py server exited ${code}`)));
    });
    return { port, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
