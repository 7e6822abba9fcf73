// SSH keys and signatures for tests: real ed25519 keys made by ssh-keygen in a temporary folder, statements signed
// with `ssh-keygen -Y sign` (what the CLI does), and allowed-signers files.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPROVAL_NAMESPACE } from '../../src/approval/statement';

export interface TestKey {
  name: string;
  privatePath: string;
  /** "ssh-ed25519 AAAA… comment" */
  publicLine: string;
}

export class TestKeys {
  readonly dir = mkdtempSync(join(tmpdir(), 'modelship-keys-'));
  private count = 0;

  make(name: string): TestKey {
    const privatePath = join(this.dir, `${name}-${this.count++}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privatePath]);
    return { name, privatePath, publicLine: readFileSync(`${privatePath}.pub`, 'utf8').trim() };
  }

  /** Signs `message` as the CLI does; extra ssh-keygen options (e.g. ['-O', 'hashalg=sha256']) go first. */
  sign(key: TestKey, message: string, namespace = APPROVAL_NAMESPACE, extra: string[] = []): string {
    const file = join(this.dir, `message-${this.count++}`);
    writeFileSync(file, message);
    execFileSync('ssh-keygen', ['-Y', 'sign', ...extra, '-n', namespace, '-f', key.privatePath, file], { stdio: ['ignore', 'ignore', 'pipe'] });
    return readFileSync(`${file}.sig`, 'utf8');
  }

  /** Writes an allowed-signers file from "principals [options]" → key pairs. */
  allowedSigners(lines: [string, TestKey | string][]): string {
    const path = join(this.dir, `allowed_signers-${this.count++}`);
    writeFileSync(path, lines.map(([head, key]) => `${head} ${typeof key === 'string' ? key : key.publicLine}`).join('\n') + '\n');
    return path;
  }

  /** `ssh-keygen -Y verify` as git runs it; true when it says the signature is good. */
  sshKeygenVerifies(allowedSignersPath: string, principal: string, message: string, signature: string, options: { namespace?: string; at?: Date } = {}): boolean {
    const sigPath = join(this.dir, `verify-${this.count++}.sig`);
    writeFileSync(sigPath, signature);
    const time = options.at ? ['-O', `verify-time=${options.at.toISOString().replace(/[-:T]/g, '').replace(/\..*$/, '')}Z`] : [];
    const result = spawnSync('ssh-keygen', ['-Y', 'verify', ...time, '-f', allowedSignersPath, '-I', principal, '-n', options.namespace ?? APPROVAL_NAMESPACE, '-s', sigPath], {
      input: message,
      encoding: 'utf8',
    });
    return result.status === 0;
  }
}
