import { MemoryThrottlerStorage } from './rate-limit.storage';

describe('MemoryThrottlerStorage', () => {
  afterEach(() => jest.useRealTimers());

  it('counts a fixed window per key, blocks over the limit with the seconds left, and starts a new window when it ends', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const s = new MemoryThrottlerStorage();
    try {
      for (let i = 1; i <= 3; i++) expect(await s.increment('acct-a', 60_000, 3, 0, 'account')).toEqual({ totalHits: i, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
      jest.setSystemTime(1_000_000 + 20_500);
      expect(await s.increment('acct-a', 60_000, 3, 0, 'account')).toEqual({ totalHits: 4, timeToExpire: 40, isBlocked: true, timeToBlockExpire: 40 });
      // another account, and the same account under another throttler name, have their own windows
      expect((await s.increment('acct-b', 60_000, 3, 0, 'account')).totalHits).toBe(1);
      expect((await s.increment('acct-a', 60_000, 3, 0, 'other')).totalHits).toBe(1);
      jest.setSystemTime(1_000_000 + 60_000);
      expect(await s.increment('acct-a', 60_000, 3, 0, 'account')).toEqual({ totalHits: 1, timeToExpire: 60, isBlocked: false, timeToBlockExpire: 0 });
    } finally {
      s.onModuleDestroy();
    }
  });

  it('forgets ended windows once a minute', async () => {
    jest.useFakeTimers({ now: 0 });
    const s = new MemoryThrottlerStorage();
    try {
      await s.increment('a', 1_000, 10, 0, 'account');
      await s.increment('b', 120_000, 10, 0, 'account');
      expect(s.size).toBe(2);
      jest.advanceTimersByTime(60_000);
      expect(s.size).toBe(1);
    } finally {
      s.onModuleDestroy();
    }
  });
});
