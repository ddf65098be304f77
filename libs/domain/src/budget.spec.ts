import {
  applyCalibration,
  assertAppendSize,
  calibrate,
  CALIBRATION_MAX_FACTOR,
  CALIBRATION_MIN_FACTOR,
  fitsContext,
  headroom,
  MAX_APPEND_TOKENS,
} from './budget';
import { DomainError } from './errors';

describe('token budget', () => {
  it.each([
    { case: 'exactly fills the context', windowTokens: 254000, reserveTokens: 8144, fits: true, room: 0 },
    { case: 'one token over the context', windowTokens: 254001, reserveTokens: 8144, fits: false, room: -1 },
    { case: 'leaves room', windowTokens: 100000, reserveTokens: 8192, fits: true, room: 153952 },
  ])('fitsContext and headroom: window + reserve $case', ({ windowTokens, reserveTokens, fits, room }) => {
    const budget = { windowTokens, reserveTokens, contextWindow: 262144 };
    expect(fitsContext(budget)).toBe(fits);
    expect(headroom(budget)).toBe(room);
  });

  it('accepts an append of exactly 8,192 tokens and rejects one more with append_too_large', () => {
    expect(() => assertAppendSize(MAX_APPEND_TOKENS)).not.toThrow();
    const error = catchError(() => assertAppendSize(MAX_APPEND_TOKENS + 1));
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: 'append_too_large' });
  });
});

describe('token estimate calibration', () => {
  it.each([
    { case: 'moves toward the observed ratio (EMA)', estimated: 1000, actual: 1200, previous: 1, expected: 1.06 },
    { case: 'stays put when estimate and usage agree', estimated: 5000, actual: 5500, previous: 1.1, expected: 1.1 },
    { case: 'is clamped to the upper bound', estimated: 1000, actual: 100000, previous: 1.9, expected: CALIBRATION_MAX_FACTOR },
    { case: 'is clamped to the lower bound', estimated: 100000, actual: 1000, previous: 0.55, expected: CALIBRATION_MIN_FACTOR },
    { case: 'ignores tiny requests where overhead dominates', estimated: 10, actual: 40, previous: 1.2, expected: 1.2 },
    { case: 'ignores a missing usage report', estimated: 1000, actual: 0, previous: 1.2, expected: 1.2 },
    { case: 'starts from 1 when the previous factor is unusable', estimated: 1000, actual: 1000, previous: Number.NaN, expected: 1 },
  ])('calibrate $case', ({ estimated, actual, previous, expected }) => {
    expect(calibrate(estimated, actual, previous)).toBeCloseTo(expected, 10);
  });

  it('applies the factor rounding up, so corrected budgets err on the safe side', () => {
    expect(applyCalibration(1000, 1.0001)).toBe(1001);
    expect(applyCalibration(1000, 5)).toBe(2000);
  });
});

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}
