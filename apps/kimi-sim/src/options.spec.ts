import { DEFAULT_OPTIONS, mergeOptions, optionsFromEnv, STANDALONE_PORT } from './options';

describe('kimi-sim options', () => {
  it('uses the documented defaults when no SIM_* variable is set', () => {
    expect(optionsFromEnv({})).toEqual({ ...DEFAULT_OPTIONS, port: STANDALONE_PORT });
    expect(STANDALONE_PORT).toBe(3100);
    expect(DEFAULT_OPTIONS).toMatchObject({
      host: '127.0.0.1',
      replyTokens: 48,
      concurrencyPerKey: 100,
      contextWindow: 262144,
      summarizerStyle: 'mix',
      lossyDropShare: 0.3,
      tokenizerSkew: 0.15,
      cacheTtlMs: 300_000,
    });
  });

  it('reads every SIM_* variable into its option', () => {
    const options = optionsFromEnv({
      SIM_PORT: '0',
      SIM_HOST: '0.0.0.0',
      SIM_FIRST_TOKEN_MS: '300',
      SIM_TOKENS_PER_SECOND: '80',
      SIM_REPLY_TOKENS: '800',
      SIM_CONCURRENCY_PER_KEY: '5',
      SIM_CONTEXT_WINDOW: '8192',
      SIM_FAULT_429: '0.1',
      SIM_FAULT_500: '0.2',
      SIM_FAULT_CUT: '0.05',
      SIM_FAULT_HANG: '0.01',
      SIM_SEED: '42',
      SIM_SUMMARIZER_STYLE: 'bold',
      SIM_LOSSY_DROP_SHARE: '0.5',
      SIM_TOKENIZER_SKEW: '0',
      SIM_CACHE_TTL_MS: '1000',
    });
    expect(options).toMatchObject({
      port: 0,
      host: '0.0.0.0',
      firstTokenMs: 300,
      tokensPerSecond: 80,
      replyTokens: 800,
      concurrencyPerKey: 5,
      contextWindow: 8192,
      faultProbabilities: { rate429: 0.1, rate500: 0.2, cut: 0.05, hang: 0.01 },
      seed: 42,
      summarizerStyle: 'bold',
      lossyDropShare: 0.5,
      tokenizerSkew: 0,
      cacheTtlMs: 1000,
    });
  });

  it.each([
    ['SIM_PORT', 'abc'],
    ['SIM_PORT', '70000'],
    ['SIM_REPLY_TOKENS', '0'],
    ['SIM_CONCURRENCY_PER_KEY', '1.5'],
    ['SIM_FAULT_CUT', '2'],
    ['SIM_SEED', 'x'],
    ['SIM_SUMMARIZER_STYLE', 'shouty'],
    ['SIM_LOSSY_DROP_SHARE', '1.5'],
    ['SIM_TOKENIZER_SKEW', '-0.1'],
  ])('rejects %s=%s with a message naming the variable', (name, value) => {
    expect(() => optionsFromEnv({ [name]: value })).toThrow(new RegExp(`^${name}=`));
  });

  it('rejects fault probabilities that add up to more than 1', () => {
    expect(() => optionsFromEnv({ SIM_FAULT_429: '0.6', SIM_FAULT_500: '0.6' })).toThrow(/SIM_FAULT_500.*add up to at most 1/);
  });

  it('merges fault probabilities one at a time and refuses unknown option names', () => {
    const merged = mergeOptions(DEFAULT_OPTIONS, { faultProbabilities: { cut: 0.5 } });
    expect(merged.faultProbabilities).toEqual({ rate429: 0, rate500: 0, cut: 0.5, hang: 0 });
    expect(() => mergeOptions(DEFAULT_OPTIONS, { replyTokenz: 3 })).toThrow(/replyTokenz is not a kimi-sim option/);
    expect(() => mergeOptions(DEFAULT_OPTIONS, { faultProbabilities: { rate503: 0.1 } })).toThrow(/faultProbabilities.rate503/);
  });
});
