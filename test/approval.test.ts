// Signed approvals, unit level: the canonical statement, SSHSIG verification with node:crypto, the allowed-signers
// rules, and interoperability with OpenSSH (ssh-keygen signs, we verify; we sign, ssh-keygen verifies; and for every
// refusal case ssh-keygen -Y verify agrees with us).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { matchPatternList, parseAllowedSigners, parseSignerTime } from '../src/approval/allowed-signers';
import { fingerprint, parseSignature, signedData, sshString, verifySignature } from '../src/approval/sshsig';
import { APPROVAL_NAMESPACE, parseStatement, renderStatement, type ApprovalStatement } from '../src/approval/statement';
import { verifySignedApproval, type SignedApprovalCheck } from '../src/approval/verify';
import { TestKeys } from './support/ssh-keys';

const keys = new TestKeys();
const alice = keys.make('alice');
const bob = keys.make('bob');

const sha = (c: string) => c.repeat(64);
const fields: ApprovalStatement = {
  workflowId: 'release-m-20261126-112541-ab12',
  modelName: 'm',
  modelVersion: '3',
  modelSha256: sha('a'),
  dataSha256: sha('d'),
  decision: 'approved',
  principal: 'alice@example.com',
  comment: 'looks good',
  time: '2026-11-26T11:25:41.123Z',
};
const statement = renderStatement(fields);
const at = '2026-11-26T11:26:00.000Z';
const check = (overrides: Partial<SignedApprovalCheck> = {}): SignedApprovalCheck => {
  const { time: _time, comment: _comment, ...expected } = fields;
  return { statement, signature: keys.sign(alice, statement), expected, at, notBefore: '2026-11-26T11:00:00.000Z', ...overrides };
};
const aliceOnly = () => readFileSync(keys.allowedSigners([['alice@example.com', alice]]), 'utf8');

/** An SSHSIG made by our own code (node:crypto), to show that ssh-keygen accepts what our format code produces. */
function nodeSigned(message: string, namespace = APPROVAL_NAMESPACE, keyBytes = (raw: Buffer) => raw) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = keyBytes(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
  const wireKey = Buffer.concat([sshString('ssh-ed25519'), sshString(raw)]);
  const signature = sign(null, signedData(message, namespace, 'sha512'), privateKey);
  const version = Buffer.alloc(4);
  version.writeUInt32BE(1, 0);
  const blob = Buffer.concat([
    Buffer.from('SSHSIG'),
    version,
    sshString(wireKey),
    sshString(namespace),
    sshString(''),
    sshString('sha512'),
    sshString(Buffer.concat([sshString('ssh-ed25519'), sshString(signature)])),
  ]);
  const armored = `-----BEGIN SSH SIGNATURE-----\n${blob
    .toString('base64')
    .match(/.{1,70}/g)!
    .join('\n')}\n-----END SSH SIGNATURE-----\n`;
  return { armored, publicLine: `ssh-ed25519 ${wireKey.toString('base64')} node` };
}

describe('approval statement', () => {
  it('renders ten fixed-order lines and parses back to the same fields', () => {
    assert.equal(statement.split('\n')[0], 'modelship approval statement v1');
    assert.match(statement, /^workflow_id: release-m-20261126-112541-ab12\nmodel_name: m\nmodel_version: 3\n/m);
    assert.ok(statement.endsWith('time: 2026-11-26T11:25:41.123Z\n'));
    assert.deepEqual(parseStatement(statement), fields);
    assert.deepEqual(parseStatement(renderStatement({ ...fields, comment: '' })).comment, '');
  });

  it('refuses values that have no single canonical form, naming the field', () => {
    assert.throws(() => renderStatement({ ...fields, comment: 'two\nlines' }), /comment contains a line break/);
    assert.throws(() => renderStatement({ ...fields, modelSha256: 'ABC' }), /model_sha256 is not 64 lower-case hex digits/);
    assert.throws(() => renderStatement({ ...fields, time: '2026-11-26 11:25' }), /time .* is not an ISO 8601 UTC time/);
    assert.throws(() => parseStatement(statement.replace('model_name: m', 'model_name:  m')), /leading or trailing spaces|not canonical/);
    assert.throws(() => parseStatement(statement.replace('\nmodel_name', '\r\nmodel_name')), /control character|not canonical/);
    assert.throws(() => parseStatement(statement.slice(0, -1)), /must end with a line break/);
  });
});

describe('allowed signers file', () => {
  it('parses principals, quoted options and keys; refuses malformed lines with their line number', () => {
    const [entry] = parseAllowedSigners(
      `# team\n\n"alice@example.com,!eve@example.com" namespaces="git,modelship-*",valid-after="20260101",VALID-BEFORE="202701011200Z" ${alice.publicLine}\n`,
    );
    assert.deepEqual(
      [entry!.line, entry!.principals, entry!.namespaces, entry!.validBefore!.toISOString()],
      [3, 'alice@example.com,!eve@example.com', 'git,modelship-*', '2027-01-01T12:00:00.000Z'],
    );
    assert.throws(() => parseAllowedSigners(`alice valid-before=20270101 ${alice.publicLine}`), /line 1: the value of valid-before must be in double quotes/);
    assert.throws(() => parseAllowedSigners(`ok ${alice.publicLine}\nalice frobnicate ${alice.publicLine}`), /line 2: unknown or incomplete option "frobnicate"/);
    assert.throws(() => parseAllowedSigners(`alice ssh-rsa ${alice.publicLine.split(' ')[1]}`), /line 1: the key type says ssh-rsa but the key is ssh-ed25519/);
    assert.throws(() => parseSignerTime('20261340'), /not a real date/);
  });

  it('matches pattern-lists as ssh_config(5) does', () => {
    assert.ok(matchPatternList('alice@example.com', '*@example.com'));
    assert.ok(!matchPatternList('eve@example.com', '!eve@example.com,*@example.com'));
    assert.ok(!matchPatternList('bob', '!alice'), 'a negated pattern alone never matches');
    assert.ok(matchPatternList('user7', 'user?'));
    assert.ok(!matchPatternList('Alice', 'alice'), 'case-sensitive');
  });
});

describe('SSHSIG verification', () => {
  it('verifies ssh-keygen signatures (sha512 and sha256) and reports the key fingerprint ssh-keygen prints', () => {
    for (const extra of [[], ['-O', 'hashalg=sha256']]) {
      const parsed = parseSignature(keys.sign(alice, statement, APPROVAL_NAMESPACE, extra));
      assert.deepEqual(verifySignature(parsed, statement, APPROVAL_NAMESPACE), { valid: true });
      assert.equal(parsed.hashAlgorithm, extra.length ? 'sha256' : 'sha512');
    }
    const parsed = parseSignature(keys.sign(alice, statement));
    const printed = /SHA256:\S+/.exec(execFileSync('ssh-keygen', ['-l', '-f', `${alice.privatePath}.pub`], { encoding: 'utf8' }))![0];
    assert.equal(fingerprint(parsed.publicKey), printed);
  });

  it('ssh-keygen -Y verify accepts a signature made by our format code, and refuses it for a changed statement', () => {
    const ours = nodeSigned(statement);
    const file = keys.allowedSigners([['alice@example.com', ours.publicLine]]);
    assert.ok(keys.sshKeygenVerifies(file, 'alice@example.com', statement, ours.armored));
    assert.ok(!keys.sshKeygenVerifies(file, 'alice@example.com', statement.replace('version: 3', 'version: 4'), ours.armored));
    assert.equal(verifySignedApproval({ ...check(), signature: ours.armored }, readFileSync(file, 'utf8'), file).valid, true);
  });

  it('agrees with ssh-keygen -Y verify on every acceptance and refusal case', () => {
    const now = new Date(at);
    const cases: { name: string; lines: [string, typeof alice | string][]; signature?: string; message?: string; principal?: string; namespace?: string; reason?: RegExp }[] = [
      { name: 'valid', lines: [['alice@example.com', alice]] },
      { name: 'wildcard principal', lines: [['*@example.com', alice]] },
      { name: 'namespaces option that allows it', lines: [['alice@example.com namespaces="git,modelship-*"', alice]] },
      { name: 'valid-before in the future', lines: [['alice@example.com valid-before="20991231Z"', alice]] },
      {
        name: 'tampered statement',
        lines: [['alice@example.com', alice]],
        message: statement.replace('comment: looks good', 'comment: looks great'),
        reason: /does not match the statement/,
      },
      {
        name: 'wrong key',
        lines: [['alice@example.com', alice]],
        signature: keys.sign(bob, statement),
        reason: /signed with key SHA256:\S+, which the allowed signers file does not list for alice@example.com/,
      },
      { name: 'expired key', lines: [['alice@example.com valid-before="20260101Z"', alice]], reason: /has expired \(valid-before 2026-01-01T00:00:00.000Z/ },
      { name: 'key not yet valid', lines: [['alice@example.com valid-after="20270101Z"', alice]], reason: /is not yet valid/ },
      {
        name: 'wrong namespace',
        lines: [['alice@example.com', alice]],
        signature: keys.sign(alice, statement, 'git'),
        namespace: APPROVAL_NAMESPACE,
        reason: /namespace "git", not "modelship-approval"/,
      },
      { name: 'namespaces option that excludes it', lines: [['alice@example.com namespaces="git"', alice]], reason: /only for namespaces "git"/ },
      { name: 'negated principal', lines: [['!alice@example.com,*@example.com', alice]], reason: /not in the allowed signers file/ },
      { name: 'cert-authority line', lines: [['*@example.com cert-authority', alice]], reason: /cert-authority: certificate-based signing is not supported/ },
    ];
    for (const c of cases) {
      const file = keys.allowedSigners(c.lines);
      const signature = c.signature ?? keys.sign(alice, statement);
      const message = c.message ?? statement;
      const theirs = keys.sshKeygenVerifies(file, c.principal ?? 'alice@example.com', message, signature, { at: now, namespace: c.namespace });
      const ours = verifySignedApproval({ ...check(), statement: message, signature }, readFileSync(file, 'utf8'), file);
      assert.equal(
        ours.valid,
        theirs,
        `${c.name}: ours ${ours.valid ? 'accepts' : `refuses (${(ours as { reason: string }).reason})`}, ssh-keygen ${theirs ? 'accepts' : 'refuses'}`,
      );
      if (c.reason) assert.match((ours as { reason: string }).reason, c.reason, c.name);
    }
  });
});

describe('a signed approval against what the release waits for', () => {
  const refused = (overrides: Partial<SignedApprovalCheck>, signers = aliceOnly()) => {
    const verdict = verifySignedApproval(check(overrides), signers, 'allowed_signers');
    assert.equal(verdict.valid, false);
    return (verdict as { reason: string }).reason;
  };
  const signedWith = (changes: Partial<ApprovalStatement>) => {
    const text = renderStatement({ ...fields, ...changes });
    return { statement: text, signature: keys.sign(alice, text) };
  };

  it('accepts the matching statement and names the principal and key', () => {
    const verdict = verifySignedApproval(check(), aliceOnly(), 'allowed_signers');
    assert.equal(verdict.valid, true);
    assert.deepEqual(verdict.valid && [verdict.principal, verdict.keyFingerprint.startsWith('SHA256:')], ['alice@example.com', true]);
  });

  it('refuses a signature for another version, another digest, another release (replay) or another decision', () => {
    assert.match(refused(signedWith({ modelVersion: '4' })), /model_version: signed "4", expected "3"/);
    assert.match(refused(signedWith({ modelSha256: sha('b') })), /model_sha256: signed "b{64}", expected "a{64}"/);
    assert.match(refused(signedWith({ dataSha256: sha('e') })), /data_sha256: signed/);
    assert.match(refused(signedWith({ workflowId: 'release-m-other' })), /workflow_id: signed "release-m-other"/);
    assert.match(refused(signedWith({ decision: 'rejected' })), /decision: signed "rejected", expected "approved"/);
    assert.match(refused(signedWith({ principal: 'bob@example.com' })), /principal: signed "bob@example.com", expected "alice@example.com"/);
  });

  it('refuses a statement dated before the release waited, or later than the decision', () => {
    assert.match(refused(signedWith({ time: '2026-11-25T09:00:00.000Z' })), /before this release waited for approval/);
    assert.match(refused(signedWith({ time: '2026-11-26T12:00:00.000Z' })), /later than the decision/);
  });

  it('refuses garbage with a reason instead of throwing', () => {
    assert.match(refused({ signature: 'not a signature' }), /not an armored SSH signature/);
    assert.match(refused({ statement: 'approve it' }), /the statement is not valid/);
    assert.match(refused({}, 'alice@example.com ssh-ed25519 !!!\n'), /allowed signers file is unusable: allowed_signers line 1/);
    const shortKey = nodeSigned(statement, APPROVAL_NAMESPACE, (raw) => raw.subarray(1)); // a 31-byte ed25519 key
    assert.match(refused({ signature: shortKey.armored }), /the signature cannot be checked: /);
  });
});

describe('approval config keys', () => {
  it('resolves allowed_signers relative to the config file, defaults to one approval, and checks required_approvals against approvers', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { loadConfig, ConfigError } = await import('../src/config/load');
    const dir = mkdtempSync(join(tmpdir(), 'modelship-approval-config-'));
    const file = join(dir, 'release.yaml');
    writeFileSync(file, 'allowed_signers: keys/allowed_signers\n');
    const { config } = loadConfig({ path: file });
    assert.equal(config.allowed_signers, join(dir, 'keys/allowed_signers'));
    assert.deepEqual([config.required_approvals, config.forbid_self_approval], [1, false]);
    assert.equal(loadConfig({}).config.allowed_signers, undefined, 'unset by default: names only');
    writeFileSync(file, 'approvers: [alice]\nrequired_approvals: 2\n');
    assert.throws(
      () => loadConfig({ path: file }),
      (error: unknown) => error instanceof ConfigError && /required_approvals \(line 2\): 2 approvals are required but approvers lists only 1/.test(error.message),
    );
  });
});
