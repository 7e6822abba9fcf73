// Signing an approval statement on the approver's machine: the statement names exactly what the release waits for
// (from its status query), and ssh-keygen signs it with the approver's own SSH key (or their agent), in the
// modelship-approval namespace. The private key never leaves ssh-keygen.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { APPROVAL_NAMESPACE, renderStatement, statementFields, type StatementDecision } from '../approval/statement';
import type { ReleaseStatus } from '../workflows/release-api';

/** The canonical statement for a decision on the candidate `status` waits for. */
export function statementFor(
  status: Pick<ReleaseStatus, 'workflowId' | 'candidate' | 'gate'>,
  decision: StatementDecision,
  principal: string,
  comment: string,
  time = new Date().toISOString(),
): string {
  const candidate = status.candidate;
  if (!candidate) throw new Error(`${status.workflowId} has no candidate yet: it is not waiting for approval`);
  if (!candidate.modelSha256 || !candidate.dataSha256) {
    throw new Error(`${status.workflowId} does not report its candidate's model and data digests (started by an older modelship): it cannot take a signed decision`);
  }
  // The gate says what its statements name (the release, and the environment with environments).
  return renderStatement({ ...statementFields(status.gate?.statementId ?? status.workflowId, candidate, decision, principal, comment), time });
}

const expandHome = (path: string) => (path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : resolve(path));

/**
 * Signs `statement` with `ssh-keygen -Y sign -n modelship-approval -f KEY` and returns the armored signature.
 * KEY is a private key file (ssh-keygen asks for its passphrase on the terminal) or a public key whose private half
 * is in ssh-agent.
 */
export async function signStatement(keyPath: string, statement: string): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'modelship-sign-'));
  try {
    const file = join(dir, 'statement');
    writeFileSync(file, statement);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((done, fail) => {
      // stdin stays the terminal's, for a passphrase prompt; ssh-keygen's chatter ("Signing file …") is kept for errors.
      const child = spawn('ssh-keygen', ['-Y', 'sign', '-n', APPROVAL_NAMESPACE, '-f', expandHome(keyPath), file], { stdio: ['inherit', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.once('error', (error: NodeJS.ErrnoException) =>
        fail(error.code === 'ENOENT' ? new Error('ssh-keygen is not installed: install OpenSSH (Debian/Ubuntu: apt-get install openssh-client)') : error),
      );
      child.once('close', (c) => done({ code: c, stderr: err }));
    });
    if (code !== 0) {
      const detail = stderr
        .split('\n')
        .filter((line) => line && !line.startsWith('Signing file'))
        .join('; ');
      throw new Error(`ssh-keygen could not sign with ${keyPath}: ${detail || `exit code ${code}`}`);
    }
    return readFileSync(`${file}.sig`, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
