import { ActivityFailure, TemporalFailure } from '@temporalio/workflow';

/**
 * Which step of a workflow failed, known from the workflow's own state, never from the failure.
 *
 * A local activity that gives up (its schedule-to-close spent) reaches the workflow as an
 * `ActivityFailure`, with its `activityType`, when it happens; but the SDK's core writes the bare
 * cause into the local activity's marker, so the same step replays from its marker as a
 * `TimeoutFailure` or an `ApplicationFailure`, without the wrapper and without `activityType`
 * (sdk-core issue 449). Code that decides on the wrapper takes one path when the step gives up and
 * another when the run is replayed (a query of the closed run, a worker that lost its cache):
 * nondeterminism, or another ending. So a workflow records which step it called, and treats a
 * `TemporalFailure` raised while that step was in flight, in either form, as that step's failure.
 * Adopting this needs no patch: a run whose step gives up takes the path it took before; only its
 * replay, which took another one (and failed), now takes the same.
 */
export interface StepTracker {
  /** The activity called last, until it answers (still set when it failed: the failure is its). */
  readonly inFlight: string | null;
  /** The same activities, each call recorded in `inFlight` while it runs. */
  track<A extends object>(activities: A): A;
}

export function stepTracker(): StepTracker {
  let inFlight: string | null = null;
  return {
    get inFlight() {
      return inFlight;
    },
    track<A extends object>(activities: A): A {
      return new Proxy(activities, {
        get(target, name) {
          const call = Reflect.get(target, name) as (...args: unknown[]) => Promise<unknown>;
          if (typeof name !== 'string') return call;
          return async (...args: unknown[]) => {
            inFlight = name;
            const result = await call(...args);
            inFlight = null;
            return result;
          };
        },
      });
    },
  };
}

/** A step's failure as the step raised it: the same whether it arrives wrapped (as it happens) or bare (a local step replayed). */
export function stepFailure(error: TemporalFailure): Error {
  return error instanceof ActivityFailure ? (error.cause ?? error) : error;
}
