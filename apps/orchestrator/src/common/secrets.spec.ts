import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { hashApiKey, safeEqual, SealedValueUnreadable, SecretBox } from './secrets';

// What a value sealed before the key ring looks like (v1: no key id).
function sealV1(secret: string, plain: string): string {
  const key = createHash('sha256').update(`session-orchestrator:v1:${secret}`).digest();
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), data.toString('base64')].join(':');
}

describe('SecretBox key ring', () => {
  const K1 = 'first-encryption-key-0001';
  const K2 = 'second-encryption-key-002';

  it('opens what it sealed and names the key it used', () => {
    const box = new SecretBox(K1);
    const sealed = box.seal('sk-upstream');
    expect(sealed.startsWith('v2:')).toBe(true);
    expect(sealed).not.toContain('sk-upstream');
    expect(box.open(sealed)).toBe('sk-upstream');
    expect(box.isCurrent(sealed)).toBe(true);
  });

  it('after a rotation, opens values sealed with an old key (v1 and v2) and seals with the new one', () => {
    const old = new SecretBox(K1);
    const v2 = old.seal('sk-a');
    const v1 = sealV1(K1, 'sk-b');
    const rotated = new SecretBox(K2, [K1]);
    expect(rotated.open(v2)).toBe('sk-a');
    expect(rotated.open(v1)).toBe('sk-b');
    expect(rotated.isCurrent(v2)).toBe(false);
    const resealed = rotated.seal('sk-a');
    expect(rotated.isCurrent(resealed)).toBe(true);
    expect(new SecretBox(K2).open(resealed)).toBe('sk-a');
  });

  it('refuses, with a reason, a value no configured key opens or that was tampered with', () => {
    const v2 = new SecretBox(K1).seal('sk-a');
    expect(() => new SecretBox(K2).open(v2)).toThrow(SealedValueUnreadable);
    expect(() => new SecretBox(K2).open(v2)).toThrow(/ENCRYPTION_KEYS_OLD/);
    expect(() => new SecretBox(K2).open(sealV1(K1, 'x'))).toThrow(SealedValueUnreadable);
    const parts = v2.split(':');
    parts[4] = Buffer.from('tampered').toString('base64');
    expect(() => new SecretBox(K1).open(parts.join(':'))).toThrow(SealedValueUnreadable);
    expect(() => new SecretBox(K1).open('garbage')).toThrow(SealedValueUnreadable);
  });
});

describe('key hashing', () => {
  it('hashApiKey is the hex SHA-256 of the UTF-8 key, as stored before', () => {
    for (const key of ['sk-so-abc', 'sk-so-é😀', '']) expect(hashApiKey(key)).toBe(createHash('sha256').update(key, 'utf8').digest('hex'));
  });

  it('safeEqual compares whole strings', () => {
    expect(safeEqual('sk-admin-x', 'sk-admin-x')).toBe(true);
    expect(safeEqual('sk-admin-x', 'sk-admin-y')).toBe(false);
    expect(safeEqual('sk-admin-x', 'sk-admin-xx')).toBe(false);
  });
});
