import { RequestLog, type RequestSummary } from './stats';

describe('RequestLog', () => {
  const entry = (id: string) => ({ id }) as RequestSummary;

  it('keeps the newest entries, oldest first, up to its capacity', () => {
    const log = new RequestLog(3);
    for (const id of ['1', '2', '3', '4', '5']) log.add(entry(id));
    expect(log.recent(10).map((e) => e.id)).toEqual(['3', '4', '5']);
    expect(log.recent(2).map((e) => e.id)).toEqual(['4', '5']);
    log.resize(2);
    log.add(entry('6'));
    expect(log.recent(10).map((e) => e.id)).toEqual(['5', '6']);
  });
});
