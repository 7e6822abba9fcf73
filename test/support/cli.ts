// Runs the modelship CLI from source as a user would. Asynchronous, so workers running in the test process keep
// serving while the command waits on them.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../src/config/environment';

export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'src/client/cli.ts'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
