/**
 * Delays between notification attempts (SPEC 5). Pure and deterministic: the notification
 * workflow calls these to size its durable timers.
 *
 * For a base delay d and retry number n (1-based: the wait before the n-th retry):
 *   exponential d * 2^(n-1)   linear d * n   fibonacci d * fib(n) with fib = 1, 1, 2, 3, 5, ...   constant d
 * each capped at the maximum. Any n, however large, gives a finite number within [0, max]:
 * no overflow to Infinity, no NaN (0 * Infinity), no loop proportional to n.
 */
export const RETRY_STRATEGIES = ['exponential', 'linear', 'fibonacci', 'constant'] as const;
export type RetryStrategy = (typeof RETRY_STRATEGIES)[number];

const nonNegative = (x: number) => (Number.isFinite(x) && x > 0 ? x : 0);

/** The uncapped multiplier of the base delay, or Infinity once it exceeds `limit`. */
function factor(strategy: RetryStrategy, n: number, limit: number): number {
  switch (strategy) {
    case 'constant':
      return 1;
    case 'linear':
      return n;
    case 'exponential':
      // 2^1024 is already Infinity; Math.pow handles it, but stop early to keep it obvious.
      return n - 1 >= 1024 ? Infinity : 2 ** (n - 1);
    case 'fibonacci': {
      let previous = 0;
      let current = 1; // fib(1)
      for (let i = 1; i < n; i++) {
        [previous, current] = [current, previous + current];
        // Past the cap (or the float range) every later term is too: stop after O(log limit) steps.
        if (current > limit) return Infinity;
      }
      return current;
    }
  }
}

/** Minutes to wait before retry `n` (1-based), capped at `maxMinutes`. */
export function retryDelayMinutes(strategy: RetryStrategy, baseMinutes: number, n: number, maxMinutes: number): number {
  const base = nonNegative(baseMinutes);
  const cap = nonNegative(maxMinutes);
  if (base === 0 || cap === 0) return 0;
  const retry = Number.isFinite(n) ? Math.max(1, Math.floor(n)) : Number.MAX_SAFE_INTEGER;
  // The multiplier beyond which base * multiplier passes the cap.
  const f = factor(strategy, retry, cap / base);
  const delay = base * f;
  return Number.isFinite(delay) ? Math.min(delay, cap) : cap;
}

export const retryDelayMs = (strategy: RetryStrategy, baseMinutes: number, n: number, maxMinutes: number): number =>
  Math.round(retryDelayMinutes(strategy, baseMinutes, n, maxMinutes) * 60_000);
