// One signed approval checked end to end: the statement is canonical and says what is expected (this release, this
// version, these digests, this decision, this principal, a plausible time); the SSH signature over it is valid in the
// modelship-approval namespace; and the allowed-signers file lets that principal sign with that key at that time.
// Used by the worker's verification activity and by `modelship audit`.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AllowedSignersError, checkSigner, parseAllowedSigners } from './allowed-signers';
import { fingerprint, parseSignature, verifySignature } from './sshsig';
import { APPROVAL_NAMESPACE, parseStatement, statementMismatches, type ApprovalStatement } from './statement';

/** How far a statement's time may be from the decision time: clocks of the approver's machine and Temporal's differ. */
export const CLOCK_SKEW_MS = 5 * 60_000;

export interface SignedApprovalCheck {
  statement: string;
  /** The armored SSH signature of `statement` (ssh-keygen -Y sign -n modelship-approval). */
  signature: string;
  /** Fields the statement must carry (all but the time). */
  expected: Omit<ApprovalStatement, 'time' | 'comment'> & { comment?: string };
  /** When the decision is taken: the key must be valid then, and the statement may not be signed later. */
  at: string;
  /** When the release began waiting for this decision: a statement signed earlier was made for something else. */
  notBefore?: string;
}

export type ApprovalVerdict = { valid: true; principal: string; keyFingerprint: string; statement: ApprovalStatement } | { valid: false; reason: string; keyFingerprint?: string };

export function verifySignedApproval(check: SignedApprovalCheck, allowedSignersText: string, allowedSignersSource: string): ApprovalVerdict {
  let statement: ApprovalStatement;
  try {
    statement = parseStatement(check.statement);
  } catch (error) {
    return { valid: false, reason: `the statement is not valid: ${(error as Error).message}` };
  }
  let parsed: ReturnType<typeof parseSignature>;
  try {
    parsed = parseSignature(check.signature);
  } catch (error) {
    return { valid: false, reason: `the signature cannot be read: ${(error as Error).message}` };
  }
  const keyFingerprint = fingerprint(parsed.publicKey);
  const refuse = (reason: string): ApprovalVerdict => ({ valid: false, reason, keyFingerprint });

  let signatureCheck: ReturnType<typeof verifySignature>;
  try {
    signatureCheck = verifySignature(parsed, check.statement, APPROVAL_NAMESPACE);
  } catch (error) {
    return refuse(`the signature cannot be checked: ${(error as Error).message}`); // e.g. a malformed key: no retry helps
  }
  if (!signatureCheck.valid) return refuse(signatureCheck.reason);

  // The signature is genuine for this text: now, is the text about this decision?
  const mismatches = statementMismatches(statement, check.expected);
  if (mismatches.length > 0) return refuse(`the signed statement is for something else: ${mismatches.join('; ')}`);
  const signedAt = Date.parse(statement.time);
  const at = Date.parse(check.at);
  if (signedAt > at + CLOCK_SKEW_MS) return refuse(`the statement is dated ${statement.time}, later than the decision (${check.at}) by more than the allowed clock skew`);
  if (check.notBefore && signedAt < Date.parse(check.notBefore) - CLOCK_SKEW_MS) {
    return refuse(`the statement is dated ${statement.time}, before this release waited for approval (${check.notBefore}): it was signed for something else`);
  }

  let signers: ReturnType<typeof parseAllowedSigners>;
  try {
    signers = parseAllowedSigners(allowedSignersText, allowedSignersSource);
  } catch (error) {
    return refuse(`the allowed signers file is unusable: ${(error as Error).message}`);
  }
  const signer = checkSigner(signers, statement.principal, parsed.publicKey, APPROVAL_NAMESPACE, new Date(at), keyFingerprint);
  if (!signer.allowed) return refuse(signer.reason);
  return { valid: true, principal: statement.principal, keyFingerprint, statement };
}

/** The allowed-signers file's text and sha256 (one read, so both describe the same bytes); a clear error if unreadable. */
export function readAllowedSignersFile(path: string): { text: string; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new AllowedSignersError(
      `cannot read the allowed signers file ${path} (${why}). Fix: allowed_signers must name a file readable where modelship runs (a relative path is relative to the config file)`,
    );
  }
  return { text: bytes.toString('utf8'), sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Reads and parses the allowed-signers file, for an early clear error (`start`, `config check`); returns its rules. */
export function loadAllowedSigners(path: string) {
  return parseAllowedSigners(readAllowedSignersFile(path).text, path);
}
