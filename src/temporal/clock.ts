import type { Info } from '@temporalio/activity';

/**
 * The clock of a send, inside an activity: the later of the worker's clock and the instant
 * Temporal scheduled this attempt (the server's clock). A step that was planned for 06:00 and
 * retried through an outage until 08:30 decides with 08:30, never with the instant it was planned
 * for. The server's side makes it right on the time-skipping test server too, where skipped hours
 * pass on the server's clock and not on the worker's.
 */
export function sendClock(info: Pick<Info, 'currentAttemptScheduledTimestampMs'>, now: number = Date.now()): number {
  return Math.max(now, info.currentAttemptScheduledTimestampMs ?? 0);
}
