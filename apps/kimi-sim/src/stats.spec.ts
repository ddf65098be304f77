import { RequestLog, StatsBook, type RequestSummary } from './stats';

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

describe('StatsBook', () => {
  it('adds cache writes, their cost and summarizer styles per key and in total', () => {
    const book = new StatsBook();
    book.billed('k', 100, 40, 10, 0.5, 60, 0.2);
    book.billed('k', 50, 0, 5, 0.25, 50, 0.1);
    book.summarized('k', 'bold');
    book.summarized('k', 'bold');
    book.summarized('other', 'json');
    const { total, keys } = book.snapshot();
    expect(keys.k).toMatchObject({ prompt_tokens: 150, cached_tokens: 40, cache_write_tokens: 110, by_summarizer_style: { bold: 2 } });
    expect(keys.k.cost_usd).toBeCloseTo(0.75, 12);
    expect(keys.k.cache_write_cost_usd).toBeCloseTo(0.3, 12);
    expect(total.by_summarizer_style).toEqual({ bold: 2, json: 1 });
  });
});
