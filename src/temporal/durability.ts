import type { ActivityOptions, LocalActivityOptions } from '@temporalio/common';

/**
 * How patiently workflows ride out infrastructure trouble (a database outage, a worker crash), as
 * opposed to business answers (a provider's refusal), which the workflows count themselves.
 * Carried in workflow inputs (set from the worker's and API's configuration), so a run keeps the
 * policy it started with. Pure: workflows import it.
 */
export interface Durability {
  /** Upper bound on retrying one step through infrastructure errors (schedule-to-close), ms. Hours, not minutes. */
  infraRetryMs: number;
  /** First retry interval after an infrastructure error, ms. */
  infraInitialIntervalMs: number;
  /** Longest interval between two retries, ms. */
  infraMaximumIntervalMs: number;
  /**
   * Heartbeat timeout of activities that heartbeat (a provider call), ms: a dead worker's attempt
   * moves to another worker within it. Longer than any wait inside the activity (pool wait).
   */
  heartbeatTimeoutMs: number;
}

export const DEFAULT_DURABILITY: Durability = {
  infraRetryMs: 6 * 3_600_000,
  infraInitialIntervalMs: 1_000,
  infraMaximumIntervalMs: 5 * 60_000,
  heartbeatTimeoutMs: 15_000,
};

/**
 * Local activities longer than this backoff wait on a workflow timer instead of in the worker:
 * below it every retry stays in the worker while the workflow task is heartbeated every few
 * seconds (about three history events each time), so a long outage would write thousands of
 * events. Above it each retry costs one timer: an hour-long outage costs a few dozen events.
 */
export const LOCAL_RETRY_THRESHOLD_MS = 5_000;

/** Short, idempotent bookkeeping in the worker (local activities), retried patiently through an outage. */
export function bookkeepingOptions(d: Durability): LocalActivityOptions {
  return {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: d.infraRetryMs,
    localRetryThreshold: LOCAL_RETRY_THRESHOLD_MS,
    retry: { initialInterval: d.infraInitialIntervalMs, backoffCoefficient: 2, maximumInterval: d.infraMaximumIntervalMs },
  };
}

/**
 * A regular activity that talks to the outside world and heartbeats throughout: retried for
 * infrastructure errors only (its business answers are return values), until `infraRetryMs`.
 */
export function externalCallOptions(d: Durability, startToCloseTimeout: ActivityOptions['startToCloseTimeout'] = '2m'): ActivityOptions {
  return {
    startToCloseTimeout,
    heartbeatTimeout: d.heartbeatTimeoutMs,
    scheduleToCloseTimeout: d.infraRetryMs,
    retry: { initialInterval: d.infraInitialIntervalMs, backoffCoefficient: 2, maximumInterval: d.infraMaximumIntervalMs },
  };
}

/**
 * The last write of a run that cannot go on (a step gave up, a bug): tried briefly (at most a
 * minute, or the whole budget when that is shorter), since the outbox reconciler writes it anyway
 * from the run's failure once the database answers.
 */
export function finalWriteOptions(d: Durability): LocalActivityOptions {
  return { ...bookkeepingOptions(d), scheduleToCloseTimeout: Math.min(d.infraRetryMs, 60_000) };
}
