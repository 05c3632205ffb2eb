import { WorkflowExecutionAlreadyStartedError, WorkflowFailedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ApplicationFailure, type SearchAttributePair } from '@temporalio/common';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { claimIdempotencyKey, recordIdempotentResponse, type IdempotencyScope } from './idempotency';
import { withTransaction, type Queryable } from './transaction';

/**
 * Row, then workflow: the transactional-outbox shape every feature uses to create something that
 * a workflow then owns (a notification, a callback, an appointment).
 *
 * 1. One short transaction: claim the Idempotency-Key, write the row (its workflow id is
 *    deterministic: `<kind>-<row id>`), record the response a repeated request will replay. COMMIT.
 *    No database connection, lock or transaction is held while Temporal is called.
 * 2. Start the workflow with that id: conflict policy USE_EXISTING (a running one is the same
 *    workflow), reuse policy REJECT_DUPLICATE (a finished one is never run again), bounded by a
 *    deadline. If Temporal is down or slow, the request still succeeds: the row is committed.
 * 3. The reconciler (a Temporal Schedule, see reconcileOutbox) starts every committed row whose
 *    workflow has not run its first step after a grace period, and gives a final status to rows
 *    whose workflow ended without writing one (terminated, timed out, failed).
 *
 * So a row always gets its workflow, and a workflow always finds its row.
 */
export interface WorkflowStart {
  workflowType: string;
  workflowId: string;
  args: unknown[];
  searchAttributes?: SearchAttributePair[];
  memo?: Record<string, unknown>;
}

/**
 * What became of a start: running (started now or earlier), closed (ran earlier), not yet (Temporal
 * did not answer in time), or none (the row was written final: nothing to run, e.g. a notification
 * suppressed because notifications are switched off).
 */
export type StartOutcome = 'started' | 'closed' | 'deferred' | 'none';

export interface StartOptions {
  client: Client;
  taskQueue: string;
  /** How long to wait for Temporal before leaving the start to the reconciler. */
  deadlineMs: number;
  logger?: Logger;
}

/** Starts the workflow of a committed row; never throws for an unavailable Temporal (the row waits for the reconciler). */
export async function startCommitted(start: WorkflowStart, options: StartOptions): Promise<StartOutcome> {
  const { client } = options;
  try {
    await client.withDeadline(Date.now() + options.deadlineMs, () =>
      client.workflow.start(start.workflowType, {
        workflowId: start.workflowId,
        taskQueue: options.taskQueue,
        args: start.args,
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        typedSearchAttributes: start.searchAttributes,
        memo: start.memo,
      }),
    );
    return 'started';
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return 'closed';
    options.logger?.warn(
      { err: error, workflowId: start.workflowId },
      'Temporal did not start the workflow in time; the row is committed and the reconciler will start it',
    );
    return 'deferred';
  }
}

export interface CreateThenStartOptions<T> extends StartOptions {
  pool: Pool;
  /** With an Idempotency-Key: the same key and request replay the first response; another request is a 409. */
  idempotency?: { scope: IdempotencyScope; requestHash: string };
  /** Inside the transaction: check references, write the row(s); the response a replay returns. */
  write(tx: Queryable): Promise<T>;
  /** The workflow a response stands for (also used on replay, to make sure it started); null: the row needs none. */
  workflowOf(response: T): WorkflowStart | null | Promise<WorkflowStart | null>;
}

/** Step 1 and 2 above. `created` is false on a replay of an earlier request with the same Idempotency-Key. */
export async function createThenStart<T>(
  options: CreateThenStartOptions<T>,
): Promise<{ created: boolean; response: T; start: StartOutcome }> {
  const { idempotency } = options;
  const outcome = await withTransaction(options.pool, async (tx) => {
    if (idempotency) {
      const claim = await claimIdempotencyKey<T>(tx, idempotency.scope, idempotency.requestHash);
      if (claim.kind === 'replay') return { created: false, response: claim.response };
    }
    const response = await options.write(tx);
    if (idempotency) await recordIdempotentResponse(tx, idempotency.scope, 201, response);
    return { created: true, response };
  });
  // After COMMIT. A replay starts it too: the first request may have committed and then lost its start.
  const workflow = await options.workflowOf(outcome.response);
  const start = workflow ? await startCommitted(workflow, options) : 'none';
  return { ...outcome, start };
}

/** One kind of row a workflow owns, as the reconciler sees it. */
export interface OutboxSource {
  /** e.g. `notificationWorkflow` */
  workflowType: string;
  /** Rows committed at least `graceSeconds` ago whose workflow has not run its first step (bounded by `limit`). */
  unstarted(db: Queryable, options: { graceSeconds: number; limit: number; companyIds?: string[] }): Promise<WorkflowStart[]>;
  /**
   * A workflow that closed without a final status on its row: write one (idempotent); true if a row
   * changed. `failure` reads how the run ended (its failure's type, message and details, decoded),
   * for sources that record it; it costs a call to Temporal, so call it only for a row still open.
   */
  closeOrphan(db: Queryable, workflowId: string, closeStatus: string, failure: () => Promise<RunFailure | undefined>): Promise<boolean>;
  /**
   * Optional: when the oldest row still open whose workflow started began. The reconciler looks for
   * closed runs back to then (not only `lookbackHours`), so an orphan older than the window (the
   * reconciler was down, or kept failing) is still closed.
   */
  oldestOpen?(db: Queryable, options: { companyIds?: string[] }): Promise<Date | null>;
  /**
   * Optional, for rows that change after their workflow started (an appointment moved): tell the
   * workflow of every change committed at least `graceSeconds` ago that it was not told of (the
   * message after COMMIT was lost). Returns the workflow ids told; throws when Temporal is unavailable.
   */
  resync?(db: Queryable, options: { graceSeconds: number; limit: number; companyIds?: string[] }): Promise<string[]>;
}

/** How a closed run ended, read from Temporal (payloads decoded by the client's data converter). */
export interface RunFailure {
  /** e.g. `CallbackFailed`, `TerminatedFailure`, `TimeoutFailure` */
  type: string;
  message: string;
  details: unknown[];
}

export interface ReconcileResult {
  started: string[];
  closed: string[];
  resynced: string[];
  /** Rows the pass could not handle (a start Temporal refused, a close that failed), each with why; the next pass tries again. */
  failed: Array<{ workflowId: string; error: string }>;
}

export interface ReconcileOptions {
  graceSeconds: number;
  /** How far back to look for closed workflows (visibility), hours. */
  lookbackHours: number;
  limit: number;
  /** Only these companies' rows (an operator repairing one tenant; tests sharing a database). */
  companyIds?: string[];
}

/** Closed executions that may have left their row unfinished (everything but Completed and ContinuedAsNew). */
const ORPHAN_STATUSES = ['Terminated', 'TimedOut', 'Failed', 'Canceled'];

/** How a closed run ended: its failure (decoded), or undefined when it did not fail or cannot be read. */
async function runFailure(client: Client, workflowId: string): Promise<RunFailure | undefined> {
  try {
    await client.workflow.getHandle(workflowId).result();
    return undefined;
  } catch (error) {
    if (!(error instanceof WorkflowFailedError)) return undefined;
    const cause = error.cause;
    if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message, details: cause.details ?? [] };
    return { type: cause?.name ?? 'Failure', message: cause?.message ?? error.message, details: [] };
  }
}

/**
 * Step 3: starts what never started, finishes what ended without a final status, tells running
 * workflows of changes they missed (sources with `resync`). Idempotent; safe to run concurrently.
 * One row that cannot be handled (a start Temporal refuses) is reported in `failed` and never holds
 * up the others; closed runs are looked for back to the oldest open row of a source that says when
 * that is, so an orphan older than `lookbackHours` is still closed.
 */
export async function reconcileOutbox(
  pool: Pool,
  sources: OutboxSource[],
  options: StartOptions & ReconcileOptions,
): Promise<ReconcileResult> {
  const result: ReconcileResult = { started: [], closed: [], resynced: [], failed: [] };
  const { client } = options;
  const failed = (workflowId: string, error: unknown) => {
    result.failed.push({ workflowId, error: error instanceof Error ? error.message : String(error) });
    options.logger?.error({ err: error, workflowId }, 'the reconciler could not handle this row; it tries again next pass');
  };
  const close = async (source: OutboxSource, workflowId: string, closeStatus: string) => {
    try {
      if (await source.closeOrphan(pool, workflowId, closeStatus, () => runFailure(client, workflowId))) result.closed.push(workflowId);
    } catch (error) {
      failed(workflowId, error);
    }
  };
  for (const source of sources) {
    for (const start of await source.unstarted(pool, options)) {
      try {
        const status = await client.workflow
          .getHandle(start.workflowId)
          .describe()
          .then((d) => d.status.name as string)
          .catch((error) => {
            if (error instanceof WorkflowNotFoundError) return 'NotFound';
            throw error;
          });
        if (status === 'RUNNING') continue; // started, waiting for a worker
        if (status === 'NotFound') {
          const outcome = await startCommitted(start, options);
          if (outcome === 'deferred') throw new Error('Temporal did not start the workflow');
          if (outcome === 'started') result.started.push(start.workflowId);
          continue;
        }
        await close(source, start.workflowId, status);
      } catch (error) {
        failed(start.workflowId, error);
      }
    }
    const window = Date.now() - options.lookbackHours * 3_600_000;
    const oldest = source.oldestOpen ? await source.oldestOpen(pool, { companyIds: options.companyIds }) : null;
    // A second of margin: visibility stores close times at its own precision.
    const since = new Date(Math.min(window, oldest ? oldest.getTime() - 1_000 : window)).toISOString();
    const query =
      `WorkflowType = '${source.workflowType}' AND TaskQueue = '${options.taskQueue}' AND CloseTime > '${since}' AND (` +
      ORPHAN_STATUSES.map((s) => `ExecutionStatus = '${s}'`).join(' OR ') +
      ')';
    for await (const execution of client.workflow.list({ query })) await close(source, execution.workflowId, execution.status.name);
    if (source.resync) result.resynced.push(...(await source.resync(pool, options)));
  }
  return result;
}
