import { commitThroughOutage } from './commit-retry';

class Outage extends Error {}

/** A fake clock whose sleeps move it forward. */
function clock() {
  let t = 0;
  const waits: number[] = [];
  return {
    now: () => t,
    sleep: (ms: number) => {
      waits.push(ms);
      t += ms;
      return Promise.resolve();
    },
    waits,
  };
}

const isOutage = (e: unknown) => e instanceof Outage;
const no = () => Promise.resolve(false);

describe('commitThroughOutage (a paid turn is committed through a short database outage)', () => {
  it('commits on the first attempt when the database answers', async () => {
    const attempt = jest.fn().mockResolvedValue(true);
    const written = jest.fn();
    expect(await commitThroughOutage(attempt, written, { retryMs: 5000, isOutage, ...clock() })).toBe('committed');
    expect(attempt).toHaveBeenCalledTimes(1);
    expect(written).not.toHaveBeenCalled();
  });

  it('tries again after an outage, with growing waits, and commits once the database is back', async () => {
    const c = clock();
    const attempt = jest.fn().mockRejectedValueOnce(new Outage('ECONNREFUSED')).mockRejectedValueOnce(new Outage('ECONNREFUSED')).mockResolvedValue(true);
    const written = jest.fn().mockResolvedValue(false);
    const retries: number[] = [];
    expect(await commitThroughOutage(attempt, written, { retryMs: 5000, isOutage, onRetry: (n) => retries.push(n), ...c })).toBe('committed');
    expect(attempt).toHaveBeenCalledTimes(3);
    expect(c.waits).toEqual([100, 200]);
    expect(retries).toEqual([1, 2]);
  });

  it('answers "already", without running the statement again, when the failed attempt had in fact committed', async () => {
    // The statement committed; only its answer was lost when the connection dropped.
    const attempt = jest.fn().mockRejectedValueOnce(new Outage('Connection terminated unexpectedly')).mockResolvedValue(false);
    const written = jest.fn().mockResolvedValue(true);
    expect(await commitThroughOutage(attempt, written, { retryMs: 5000, isOutage, ...clock() })).toBe('already');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('keeps asking whether the turn was written while the database is still away', async () => {
    const attempt = jest.fn().mockRejectedValueOnce(new Outage('down')).mockResolvedValue(true);
    const written = jest.fn().mockRejectedValueOnce(new Outage('still down')).mockResolvedValue(false);
    expect(await commitThroughOutage(attempt, written, { retryMs: 5000, isOutage, ...clock() })).toBe('committed');
    expect(attempt).toHaveBeenCalledTimes(2);
    expect(written).toHaveBeenCalledTimes(2);
  });

  it('answers "moved" when the guard refuses the commit (the lock is no longer this turn\'s)', async () => {
    expect(await commitThroughOutage(no, no, { retryMs: 5000, isOutage, ...clock() })).toBe('moved');
  });

  it('throws any other error at once: a bad statement is not retried', async () => {
    const attempt = jest.fn().mockRejectedValue(new Error('value too long'));
    await expect(commitThroughOutage(attempt, no, { retryMs: 5000, isOutage, ...clock() })).rejects.toThrow('value too long');
    expect(attempt).toHaveBeenCalledTimes(1);
  });

  it('gives up with the outage error once retryMs has passed, and does not wait past it', async () => {
    const c = clock();
    const attempt = jest.fn().mockRejectedValue(new Outage('down'));
    await expect(commitThroughOutage(attempt, no, { retryMs: 2000, isOutage, ...c })).rejects.toThrow('down');
    expect(c.waits).toEqual([100, 200, 400, 800]);
    expect(c.waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(2000);
    // retryMs 0: one attempt only.
    const once = jest.fn().mockRejectedValue(new Outage('down'));
    await expect(commitThroughOutage(once, no, { retryMs: 0, isOutage, ...clock() })).rejects.toThrow('down');
    expect(once).toHaveBeenCalledTimes(1);
  });
});
