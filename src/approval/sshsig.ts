// OpenSSH signatures ("SSHSIG", as written by `ssh-keygen -Y sign` and used by git) verified with node:crypto alone.
// Format: OpenSSH's PROTOCOL.sshsig. The armored blob holds the magic "SSHSIG", a uint32 version (1), then SSH
// strings: public key, namespace, reserved, hash algorithm, signature. What the key signed is "SSHSIG" followed by
// the strings namespace, reserved, hash algorithm and H(message). Only ssh-ed25519 keys are verified; other key types
// (RSA, ECDSA, FIDO sk-* keys) and certificates are refused with a message saying so.
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';

const MAGIC = Buffer.from('SSHSIG');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';
export const SUPPORTED_KEY_TYPE = 'ssh-ed25519';

export interface SshSignature {
  /** The public key in SSH wire format (what allowed_signers holds, base64-encoded). */
  publicKey: Buffer;
  keyType: string;
  namespace: string;
  hashAlgorithm: string;
  /** The raw signature of the key type (64 bytes for ed25519). */
  signature: Buffer;
  signatureType: string;
}

/** Reads SSH wire-format values (uint32 lengths, big-endian) with clear errors on truncated input. */
class WireReader {
  private offset = 0;
  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}
  take(count: number): Buffer {
    if (this.offset + count > this.bytes.length) throw new Error(`${this.what} is truncated`);
    const out = this.bytes.subarray(this.offset, this.offset + count);
    this.offset += count;
    return out;
  }
  uint32(): number {
    return this.take(4).readUInt32BE(0);
  }
  string(): Buffer {
    return this.take(this.uint32());
  }
  text(): string {
    return this.string().toString('utf8');
  }
  end(): void {
    if (this.offset !== this.bytes.length) throw new Error(`${this.what} has ${this.bytes.length - this.offset} unexpected trailing bytes`);
  }
}

export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length, 0);
  return Buffer.concat([length, bytes]);
}

/** The blob inside an armored "SSH SIGNATURE" block. */
export function dearmor(armored: string): Buffer {
  const text = String(armored ?? '')
    .replace(/\r\n/g, '\n')
    .trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) {
    throw new Error(`the signature is not an armored SSH signature (expected "${ARMOR_BEGIN}" … "${ARMOR_END}", as written by ssh-keygen -Y sign)`);
  }
  const body = text.slice(ARMOR_BEGIN.length, text.length - ARMOR_END.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw new Error('the signature is not valid base64');
  return Buffer.from(body, 'base64');
}

/** The key type named inside an SSH wire-format public key. */
export function keyTypeOf(publicKey: Buffer): string {
  return new WireReader(publicKey, 'the public key').text();
}

export function parseSignature(armored: string): SshSignature {
  const reader = new WireReader(dearmor(armored), 'the signature');
  if (!reader.take(MAGIC.length).equals(MAGIC)) throw new Error('the signature does not start with "SSHSIG": it is not an SSH signature');
  const version = reader.uint32();
  if (version !== 1) throw new Error(`the signature has version ${version}; only version 1 is known`);
  const publicKey = Buffer.from(reader.string());
  const namespace = reader.text();
  reader.string(); // reserved
  const hashAlgorithm = reader.text();
  const signatureBlob = reader.string();
  reader.end();
  const inner = new WireReader(signatureBlob, 'the signature value');
  const signatureType = inner.text();
  const signature = Buffer.from(inner.string());
  return { publicKey, keyType: keyTypeOf(publicKey), namespace, hashAlgorithm, signature, signatureType };
}

/** The bytes an SSHSIG signature covers: "SSHSIG", namespace, reserved (empty), hash algorithm, H(message). */
export function signedData(message: Buffer | string, namespace: string, hashAlgorithm: string): Buffer {
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw new Error(`hash algorithm "${hashAlgorithm}" is not sha256 or sha512`);
  const digest = createHash(hashAlgorithm).update(message).digest();
  return Buffer.concat([MAGIC, sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(digest)]);
}

/** The node:crypto key for an ssh-ed25519 public key in wire format (JWK OKP/Ed25519 from the 32 raw bytes). */
export function ed25519PublicKey(publicKey: Buffer): KeyObject {
  const reader = new WireReader(publicKey, 'the public key');
  const type = reader.text();
  if (type !== SUPPORTED_KEY_TYPE) throw new Error(unsupportedKeyType(type));
  const raw = reader.string();
  reader.end();
  if (raw.length !== 32) throw new Error(`the ssh-ed25519 key has ${raw.length} bytes, expected 32`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

export function unsupportedKeyType(type: string): string {
  if (type.includes('-cert-v01@openssh.com')) return `${type} is an SSH certificate: certificates are not supported; sign with a plain ssh-ed25519 key`;
  if (type.startsWith('sk-')) return `${type} is a FIDO security-key type, which modelship does not verify; sign with a plain ssh-ed25519 key`;
  return `key type ${type} is not supported: modelship verifies ssh-ed25519 signatures only (make a key with ssh-keygen -t ed25519)`;
}

/** SHA256:… as `ssh-keygen -l` prints it (unpadded base64 of the key blob's sha256). */
export function fingerprint(publicKey: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKey).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Whether `signature` is a valid signature of `message` by its embedded key, in `namespace`. Throws with the reason
 * when the signature cannot be checked at all (not armored, unsupported key type); says false when it is simply
 * not valid. Whether the key may sign is the allowed-signers file's business (allowed-signers.ts).
 */
export function verifySignature(signature: SshSignature, message: Buffer | string, namespace: string): { valid: true } | { valid: false; reason: string } {
  if (signature.namespace !== namespace)
    return { valid: false, reason: `the signature is for namespace "${signature.namespace}", not "${namespace}" (sign with ssh-keygen -Y sign -n ${namespace})` };
  if (signature.keyType !== SUPPORTED_KEY_TYPE) return { valid: false, reason: unsupportedKeyType(signature.keyType) };
  if (signature.signatureType !== SUPPORTED_KEY_TYPE) return { valid: false, reason: `signature type ${signature.signatureType} does not match key type ${signature.keyType}` };
  if (signature.hashAlgorithm !== 'sha256' && signature.hashAlgorithm !== 'sha512')
    return { valid: false, reason: `hash algorithm "${signature.hashAlgorithm}" is not sha256 or sha512` };
  const ok = verify(null, signedData(message, signature.namespace, signature.hashAlgorithm), ed25519PublicKey(signature.publicKey), signature.signature);
  return ok ? { valid: true } : { valid: false, reason: 'the signature does not match the statement: the statement was changed after signing, or signed by another key' };
}
