import { SCRATCH_MAX_AGE_MS, staleScratchNames } from './scratch-database';

describe('staleScratchNames (leftovers of killed runs)', () => {
  const now = Date.UTC(2026, 11, 1, 12);
  const name = (prefix: string, bornMs: number) => `${prefix}_${bornMs.toString(36)}_a1b2c3`;

  it('names the databases of this prefix created more than a day ago, and only those', () => {
    const old = name('sobench', now - SCRATCH_MAX_AGE_MS - 60_000);
    const recent = name('sobench', now - 60 * 60 * 1000);
    const justUnder = name('sobench', now - SCRATCH_MAX_AGE_MS + 1000);
    expect(staleScratchNames([old, recent, justUnder], 'sobench', now)).toEqual([old]);
  });

  it('never names another prefix, a prefix that merely starts the same, or a name of another shape', () => {
    const ancient = now - 30 * SCRATCH_MAX_AGE_MS;
    const names = [
      name('so_scratch', ancient), // another prefix
      name('sobench_x', ancient), // starts with "sobench_" but is another prefix's
      'sobench', // no suffix
      'sobench_production', // not a scratch shape
      `sobench_${ancient.toString(36)}`, // no random part
      `sobench_${ancient.toString(36)}_zzzzzz`, // random part not hex
    ];
    expect(staleScratchNames(names, 'sobench', now)).toEqual([]);
    expect(staleScratchNames(names, 'so_scratch', now)).toEqual([name('so_scratch', ancient)]);
  });

  it('takes the age limit it is given', () => {
    const twoHours = name('so_scratch', now - 2 * 60 * 60 * 1000);
    expect(staleScratchNames([twoHours], 'so_scratch', now, 60 * 60 * 1000)).toEqual([twoHours]);
    expect(staleScratchNames([twoHours], 'so_scratch', now, 3 * 60 * 60 * 1000)).toEqual([]);
  });
});
