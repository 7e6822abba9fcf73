// The endpoint server's admin token, apart from the server (and ONNX Runtime, which it loads): the local target
// and the CLI's endpoint commands read it.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The admin token of a server state directory, created on first use (readable by this user only). */
export function adminToken(stateDir: string): string {
  const file = join(stateDir, 'admin.token');
  if (!existsSync(file)) {
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(file, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8').trim();
}
