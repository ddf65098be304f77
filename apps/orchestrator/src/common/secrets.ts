import { createCipheriv, createDecipheriv, createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/** crypto.hash exists from Node 20.12 (package.json allows any Node 20). */
const oneShotHash = typeof hash === 'function';

/**
 * API keys are random 256-bit strings, so a fast SHA-256 is the right hash (no password stretching needed).
 * Every /v1 request hashes its key: the one-shot crypto.hash, several times cheaper than a Hash object.
 */
export function hashApiKey(key: string): string {
  return oneShotHash ? hash('sha256', key, 'hex') : createHash('sha256').update(key, 'utf8').digest('hex');
}


export function newApiKey(prefix = 'sk-so'): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`;
}

export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}

/** A sealed value that none of the configured keys opens. */
export class SealedValueUnreadable extends Error {}

function deriveKey(secret: string): Buffer {
  return createHash('sha256').update(`session-orchestrator:v1:${secret}`).digest();
}

/** A non-secret name for a key, stored beside what it sealed so the right key opens it. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 12);
}

/**
 * AES-256-GCM for upstream keys at rest, with a key ring: the current key (ENCRYPTION_KEY) seals,
 * and it or any previous key (ENCRYPTION_KEYS_OLD) opens, so rotating ENCRYPTION_KEY keeps every
 * stored upstream key readable. Sealed values name their key (`v2:<key id>:...`); `v1` values
 * (before the ring) are tried against every key.
 */
export class SecretBox {
  private readonly current: { id: string; key: Buffer };
  private readonly ring = new Map<string, Buffer>();

  constructor(secret: string, previous: readonly string[] = []) {
    const key = deriveKey(secret);
    this.current = { id: keyId(key), key };
    this.ring.set(this.current.id, key);
    for (const old of previous) {
      const k = deriveKey(old);
      if (!this.ring.has(keyId(k))) this.ring.set(keyId(k), k);
    }
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.current.key, iv);
    const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return ['v2', this.current.id, iv.toString('base64'), c.getAuthTag().toString('base64'), data.toString('base64')].join(':');
  }

  /** Whether `sealed` was sealed with the current key (else `reseal` brings it up to date). */
  isCurrent(sealed: string): boolean {
    return sealed.startsWith(`v2:${this.current.id}:`);
  }

  open(sealed: string): string {
    const parts = sealed.split(':');
    if (parts[0] === 'v2' && parts.length === 5) {
      const key = this.ring.get(parts[1]);
      if (!key) throw new SealedValueUnreadable(`sealed with key ${parts[1]}, which is neither ENCRYPTION_KEY nor in ENCRYPTION_KEYS_OLD`);
      return decrypt(key, parts[2], parts[3], parts[4]);
    }
    if (parts[0] === 'v1' && parts.length === 4) {
      for (const key of this.ring.values()) {
        try {
          return decrypt(key, parts[1], parts[2], parts[3]);
        } catch {
          /* another key of the ring */
        }
      }
      throw new SealedValueUnreadable('sealed with a key that is neither ENCRYPTION_KEY nor in ENCRYPTION_KEYS_OLD');
    }
    throw new SealedValueUnreadable('unrecognised ciphertext');
  }
}

function decrypt(key: Buffer, iv: string, tag: string, data: string): string {
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64'));
    d.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(data, 'base64')), d.final()]).toString('utf8');
  } catch {
    throw new SealedValueUnreadable('the value does not authenticate under its key (corrupt, or sealed with a different secret)');
  }
}
