import { isUuid, uuidv7 } from './ids';

describe('uuidv7', () => {
  it('makes distinct version-7 UUIDs that sort by time, across many refills of the random pool', () => {
    const ids = Array.from({ length: 2000 }, (_, i) => uuidv7(1_700_000_000_000 + i));
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(isUuid(id)).toBe(true);
      expect(id[14]).toBe('7');
      expect('89ab').toContain(id[19]);
    }
    expect([...ids].sort()).toEqual(ids);
    // the same millisecond still gives distinct ids
    expect(uuidv7(5)).not.toBe(uuidv7(5));
  });
});
