// The Azure scoring script (python/modelship_scoring/score.py) served as the inference server would call it, by
// serve_local.py on a free port, for tests that compare it with the local endpoint.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot, venvExecutable } from '../../src/config/environment';

export interface ScoringScript {
  port: number;
  stop(): void;
}

/** Starts score.py on the model folder `modelDir` (AZUREML_MODEL_DIR) and resolves once it listens. */
export async function startScoringScript(modelDir: string, model: { name: string; version: string; deployment: string }): Promise<ScoringScript> {
  const child = spawn(venvExecutable('python'), ['serve_local.py', '0'], {
    cwd: join(projectRoot, 'python', 'modelship_scoring'),
    env: { ...process.env, AZUREML_MODEL_DIR: modelDir, MODELSHIP_MODEL_NAME: model.name, MODELSHIP_MODEL_VERSION: model.version, MODELSHIP_DEPLOYMENT: model.deployment },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const stop = () => void child.kill('SIGTERM');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
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
