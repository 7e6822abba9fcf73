// The allowed-signers file, in the format of ssh-keygen(1) "ALLOWED SIGNERS" (git's gpg.ssh.allowedSignersFile):
//   principals [options] keytype base64-key [comment]
// principals: a comma-separated pattern-list (ssh_config(5) PATTERNS: '*', '?', '!' negation), optionally quoted;
// options: comma-separated, case-insensitive keywords: cert-authority, namespaces="pattern-list",
// valid-after="TIME", valid-before="TIME" (values in double quotes, as ssh-keygen requires) with TIME as YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] (local time unless Z).
// A malformed line makes the whole file unusable (named by its line number), as a typo must not silently drop a rule.
import { keyTypeOf } from './sshsig';

export interface AllowedSigner {
  line: number;
  principals: string;
  certAuthority: boolean;
  namespaces?: string;
  validAfter?: Date;
  validBefore?: Date;
  keyType: string;
  /** The public key in SSH wire format. */
  publicKey: Buffer;
}

/** A problem with the file itself (not with a signature): names the line and the fix. */
export class AllowedSignersError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AllowedSignersError';
  }
}

/** Splits on `separator` outside double quotes. */
function splitOutsideQuotes(text: string, separator: RegExp): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    if (!quoted && separator.test(char)) {
      if (current) parts.push(current);
      current = '';
    } else current += char;
  }
  if (quoted) throw new Error('an unterminated double quote');
  if (current) parts.push(current);
  return parts;
}

const unquote = (value: string) => (value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value);

const looksLikeKeyType = (token: string) => /^(ssh-|ecdsa-|sk-|rsa-)/.test(token);

/** An allowed-signers timestamp: YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z]; local time unless suffixed with Z. */
export function parseSignerTime(value: string): Date {
  const match = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?(Z?)$/i.exec(value);
  if (!match) throw new Error(`"${value}" is not a time in the YYYYMMDD[Z] or YYYYMMDDHHMM[SS][Z] format`);
  const [, y, mo, d, h = '0', mi = '0', s = '0', z] = match;
  const parts = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const date = z ? new Date(Date.UTC(...parts)) : new Date(...parts);
  const check = z ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()] : [date.getFullYear(), date.getMonth(), date.getDate()];
  if (check[0] !== parts[0] || check[1] !== parts[1] || check[2] !== parts[2] || parts[3] > 23 || parts[4] > 59 || parts[5] > 59) {
    throw new Error(`"${value}" is not a real date and time`);
  }
  return date;
}

function parseLine(text: string, line: number): AllowedSigner {
  const tokens = splitOutsideQuotes(text, /[ \t]/);
  const principals = unquote(tokens.shift() ?? '');
  if (!principals) throw new Error('no principals');
  const entry: Partial<AllowedSigner> & { line: number; principals: string; certAuthority: boolean } = { line, principals, certAuthority: false };
  if (tokens[0] !== undefined && !looksLikeKeyType(tokens[0])) {
    for (const option of splitOutsideQuotes(tokens.shift()!, /,/)) {
      const [rawName, ...rest] = option.split('=');
      const name = rawName!.toLowerCase();
      const rawValue = rest.length > 0 ? rest.join('=') : undefined;
      // As ssh-keygen: option values are double-quoted (valid-before="20270101Z"), an unquoted one is an error.
      if (rawValue !== undefined && !/^".*"$/.test(rawValue)) throw new Error(`the value of ${rawName} must be in double quotes: ${rawName}="${rawValue}"`);
      const value = rawValue === undefined ? undefined : unquote(rawValue);
      if (name === 'cert-authority' && value === undefined) entry.certAuthority = true;
      else if (name === 'namespaces' && value) entry.namespaces = value;
      else if (name === 'valid-after' && value) entry.validAfter = parseSignerTime(value);
      else if (name === 'valid-before' && value) entry.validBefore = parseSignerTime(value);
      else throw new Error(`unknown or incomplete option "${option}" (known: cert-authority, namespaces="…", valid-after="…", valid-before="…")`);
    }
  }
  const [keyType, base64] = tokens;
  if (!keyType || !base64) throw new Error('expected "principals [options] keytype base64-key"');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new Error('the key is not base64');
  const publicKey = Buffer.from(base64, 'base64');
  let embedded: string;
  try {
    embedded = keyTypeOf(publicKey);
  } catch {
    throw new Error('the key is not an SSH public key');
  }
  if (embedded !== keyType) throw new Error(`the key type says ${keyType} but the key is ${embedded}`);
  return { ...entry, keyType, publicKey };
}

/** Parses the text of an allowed-signers file. `source` names it in errors. */
export function parseAllowedSigners(text: string, source = 'allowed_signers'): AllowedSigner[] {
  const entries: AllowedSigner[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    try {
      entries.push(parseLine(trimmed, index + 1));
    } catch (error) {
      throw new AllowedSignersError(`${source} line ${index + 1}: ${(error as Error).message}. Fix the line (format: ssh-keygen(1), ALLOWED SIGNERS).`);
    }
  });
  return entries;
}

function matchPattern(value: string, pattern: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 's').test(value);
}

/** ssh_config(5) pattern-list matching: any positive pattern matches and no negated one does. Case-sensitive. */
export function matchPatternList(value: string, list: string): boolean {
  let matched = false;
  for (const raw of list.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    if (matchPattern(value, pattern)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

export type SignerCheck = { allowed: true; entry: AllowedSigner } | { allowed: false; reason: string };

/**
 * Whether `principal` may sign with `publicKey` in `namespace` at `time`, by the file's rules (what
 * `ssh-keygen -Y verify -I principal -n namespace -O verify-time=…` decides from the file).
 */
export function checkSigner(entries: AllowedSigner[], principal: string, publicKey: Buffer, namespace: string, time: Date, keyName: string): SignerCheck {
  const forPrincipal = entries.filter((entry) => matchPatternList(principal, entry.principals));
  if (forPrincipal.length === 0) return { allowed: false, reason: `${principal} is not in the allowed signers file` };
  const sameKey = forPrincipal.filter((entry) => entry.publicKey.equals(publicKey));
  if (sameKey.length === 0) return { allowed: false, reason: `signed with key ${keyName}, which the allowed signers file does not list for ${principal}` };
  let reason = '';
  for (const entry of sameKey) {
    if (entry.certAuthority) reason = `line ${entry.line} marks ${keyName} as cert-authority: certificate-based signing is not supported; list ${principal}'s own key instead`;
    else if (entry.namespaces !== undefined && !matchPatternList(namespace, entry.namespaces))
      reason = `line ${entry.line} allows ${keyName} only for namespaces "${entry.namespaces}", not "${namespace}"`;
    else if (entry.validAfter && time < entry.validAfter)
      reason = `key ${keyName} of ${principal} is not yet valid at ${time.toISOString()} (valid-after ${entry.validAfter.toISOString()}, line ${entry.line})`;
    else if (entry.validBefore && time > entry.validBefore)
      reason = `key ${keyName} of ${principal} has expired (valid-before ${entry.validBefore.toISOString()}, line ${entry.line}; checked at ${time.toISOString()})`;
    else return { allowed: true, entry };
  }
  return { allowed: false, reason };
}
