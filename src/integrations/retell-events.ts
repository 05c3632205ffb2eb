import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { phoneReader } from '../directory/service';
import { truncate } from './rules';
import * as store from './store';

/**
 * Retell's call webhooks (the agent's webhook URL): `{"event": "call_started" | "call_ended" |
 * "call_analyzed" | ..., "call": {...}}`, the call object as Retell's API returns it (with the
 * transcript and its word timings on call_ended and call_analyzed). call_started, call_ended and
 * call_analyzed are recorded on the call's row (`calls`: status, times, duration, the analysis'
 * summary); every other event (transcript_updated, transfer_*, chat events) is answered and
 * ignored. Nothing a caller said is stored but the summary (erasure clears it with the call).
 */

export const RECORDED_EVENTS = ['call_started', 'call_ended', 'call_analyzed'] as const;

export interface RetellEventAnswer {
  ok: true;
  event: string;
  outcome: 'recorded' | 'ignored';
  detail: string | null;
  callId?: string;
}

const str = (v: unknown, max: number) => (typeof v === 'string' && v.trim() ? truncate(v.trim(), max) : null);
const instant = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 && v < 253402300800000 ? new Date(v) : null);

/** call_ended's disconnection reason as the call's final status. */
export function finalStatusOf(reason: unknown): 'completed' | 'failed' | 'missed' {
  if (typeof reason !== 'string') return 'completed';
  if (['dial_no_answer', 'dial_busy', 'voicemail_reached', 'user_declined', 'registered_call_timeout', 'ivr_reached'].includes(reason))
    return 'missed';
  if (reason.startsWith('error_') || ['dial_failed', 'invalid_destination', 'marked_as_spam', 'scam_detected'].includes(reason))
    return 'failed';
  if (
    reason.startsWith('telephony_provider_') ||
    reason === 'sip_routing_error' ||
    reason.startsWith('concurrency_') ||
    reason === 'no_valid_payment'
  )
    return 'failed';
  return 'completed';
}

export function createRetellEvents({ pool, logger }: { pool: Pool; logger?: Logger }) {
  const log = logger?.child({ component: 'retell-events' });

  /** One call event of the integration's company; `integration.default_branch_id` takes calls of unknown callers. */
  async function receive(integration: store.IntegrationRow, event: string, call: unknown): Promise<RetellEventAnswer> {
    const name = truncate(event, 64);
    if (!(RECORDED_EVENTS as readonly string[]).includes(name))
      return { ok: true, event: name, outcome: 'ignored', detail: `Retell event ${name} is not recorded here` };
    const c = (typeof call === 'object' && call !== null ? call : {}) as Record<string, unknown>;
    const callId = str(c.call_id, 200);
    if (!callId) return { ok: true, event: name, outcome: 'ignored', detail: 'the event has no call.call_id' };
    const companyId = integration.company_id;
    // E.164, read in the country of the integration's default branch (else the company's); matched by equality.
    const phone = await phoneReader(pool, companyId, integration.default_branch_id);
    const from = phone(str(c.from_number, 40)) ?? null;
    const callers = from ? await store.customersByPhone(pool, companyId, from) : [];
    const caller = callers.length === 1 ? callers[0] : undefined;
    const started = instant(c.start_timestamp);
    const ended = instant(c.end_timestamp);
    const duration =
      typeof c.duration_ms === 'number' && Number.isFinite(c.duration_ms) && c.duration_ms >= 0
        ? Math.min(Math.round(c.duration_ms / 1000), 2_147_483_647)
        : started && ended && ended >= started
          ? Math.round((ended.getTime() - started.getTime()) / 1000)
          : null;
    const analysis = (typeof c.call_analysis === 'object' && c.call_analysis !== null ? c.call_analysis : {}) as Record<string, unknown>;
    await store.recordCallEvent(pool, companyId, {
      externalCallId: callId,
      direction: c.direction === 'outbound' ? 'outbound' : 'inbound',
      fromNumber: from,
      toNumber: phone(str(c.to_number, 40)) ?? null,
      customerId: caller?.id ?? null,
      branchId: caller?.home_branch_id ?? integration.default_branch_id,
      status: name === 'call_started' ? 'in_progress' : name === 'call_ended' ? finalStatusOf(c.disconnection_reason) : null,
      startedAt: started,
      endedAt: name === 'call_started' ? null : ended,
      durationSeconds: name === 'call_started' ? null : duration,
      summary: name === 'call_analyzed' ? str(analysis.call_summary, 4000) : null,
      metadata: {
        ...(str(c.agent_id, 200) ? { agentId: str(c.agent_id, 200) } : {}),
        ...(name === 'call_ended' && str(c.disconnection_reason, 100) ? { disconnectionReason: str(c.disconnection_reason, 100) } : {}),
        ...(name === 'call_analyzed' && typeof analysis.call_successful === 'boolean' ? { callSuccessful: analysis.call_successful } : {}),
        ...(name === 'call_analyzed' && str(analysis.user_sentiment, 40) ? { userSentiment: str(analysis.user_sentiment, 40) } : {}),
      },
    });
    log?.debug({ companyId, callId, event: name }, 'Retell call event recorded');
    return { ok: true, event: name, outcome: 'recorded', detail: null, callId };
  }

  return { receive };
}

export type RetellEvents = ReturnType<typeof createRetellEvents>;
