import { retryDelayMinutes, retryDelayMs, RETRY_STRATEGIES } from '../../src/notifications/rules';

const series = (strategy: (typeof RETRY_STRATEGIES)[number], base: number, max: number, n = 8) =>
  Array.from({ length: n }, (_, i) => retryDelayMinutes(strategy, base, i + 1, max));

describe('retry delays (pure)', () => {
  it('exponential: d * 2^(n-1), capped', () => {
    expect(series('exponential', 5, 60)).toEqual([5, 10, 20, 40, 60, 60, 60, 60]);
    expect(series('exponential', 1, 1000, 6)).toEqual([1, 2, 4, 8, 16, 32]);
  });

  it('linear: d * n, capped', () => {
    expect(series('linear', 5, 60)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    expect(series('linear', 25, 60, 4)).toEqual([25, 50, 60, 60]);
  });

  it('fibonacci: d * fib(n) with fib 1, 1, 2, 3, 5, ..., capped', () => {
    expect(series('fibonacci', 1, 1000, 10)).toEqual([1, 1, 2, 3, 5, 8, 13, 21, 34, 55]);
    expect(series('fibonacci', 5, 60)).toEqual([5, 5, 10, 15, 25, 40, 60, 60]);
  });

  it('constant: d, capped', () => {
    expect(series('constant', 5, 60, 4)).toEqual([5, 5, 5, 5]);
    expect(series('constant', 90, 60, 2)).toEqual([60, 60]);
  });

  it('never exceeds the cap, and a zero cap or zero base means no wait', () => {
    for (const s of RETRY_STRATEGIES) {
      for (let n = 1; n <= 50; n++) expect(retryDelayMinutes(s, 7, n, 45)).toBeLessThanOrEqual(45);
      expect(retryDelayMinutes(s, 5, 3, 0)).toBe(0);
      expect(retryDelayMinutes(s, 0, 3, 60)).toBe(0);
    }
  });

  it('is finite and capped for attempt numbers far past the cap (no overflow, no NaN)', () => {
    const huge = [100, 1_024, 1_025, 1e6, 1e9, Number.MAX_SAFE_INTEGER, 1e308, Infinity, NaN];
    for (const s of RETRY_STRATEGIES) {
      for (const n of huge) {
        const d = retryDelayMinutes(s, 5, n, 60);
        expect(Number.isFinite(d)).toBe(true);
        expect(d).toBe(s === 'constant' ? 5 : 60);
      }
      // Base 0 times an enormous factor must not become NaN (0 * Infinity).
      expect(retryDelayMinutes(s, 0, 1e308, 60)).toBe(0);
    }
  });

  it('is fast for huge attempt numbers (no loop proportional to n)', () => {
    const started = performance.now();
    for (let i = 0; i < 1000; i++) retryDelayMinutes('fibonacci', 1, Number.MAX_SAFE_INTEGER, 1e12);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('treats attempt numbers below 1 as the first retry and rejects negative inputs as zero', () => {
    expect(retryDelayMinutes('exponential', 5, 0, 60)).toBe(5);
    expect(retryDelayMinutes('linear', 5, -3, 60)).toBe(5);
    expect(retryDelayMinutes('linear', -5, 2, 60)).toBe(0);
    expect(retryDelayMinutes('linear', 5, 2, -1)).toBe(0);
  });

  it('converts to milliseconds for the workflow timers', () => {
    expect(retryDelayMs('exponential', 5, 3, 60)).toBe(20 * 60_000);
    expect(retryDelayMs('exponential', 5, 1e9, 60)).toBe(60 * 60_000);
  });
});
