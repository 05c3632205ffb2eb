import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { withTransaction } from '../db/transaction';
import { NotFoundError } from '../errors';
import { e164OrUndefined } from '../directory/phone';
import { CHANNELS, MESSAGE_KINDS, type Channel, type ConsentDecision, type MessageKind } from './definitions';
import { decide, smsKeyword } from './rules';
import * as store from './store';
import { verifyUnsubscribeToken, type TokenCheck, type UnsubscribeClaims } from './tokens';

/**
 * Customers' consent: what each customer agreed to per channel and kind of message, changed through
 * the API (with who and when), the one-click unsubscribe link of an email, or an SMS keyword. The
 * notification workflow reads it through its activities (activities/notifications.ts).
 */
export interface ConsentServiceDeps {
  pool: Pool;
  logger?: Logger;
  /** Verifies unsubscribe links (the worker signs them with the same secret). */
  unsubscribeSecret: string;
  clock?: () => number;
}

export interface ConsentActor {
  apiKeyId: string | null;
  /** Shown in the history: `api-key:<id> (agent)`, `unsubscribe link`, `sms from +34…`. */
  label: string;
}

export interface ConsentCell {
  channel: Channel;
  kind: MessageKind;
  /** What a message of this kind on this channel would do now. */
  decision: ConsentDecision;
  /** The customer's own answer; null: none, the default applies. */
  granted: boolean | null;
  source: store.ConsentRow['source'] | 'default';
  actor: string | null;
  note: string | null;
  changedAt: string | null;
}

export interface ConsentView {
  customerId: string;
  /** The company's default for optional messages (a customer's own answer wins). */
  optionalMessagesDefault: 'allowed' | 'denied';
  consents: ConsentCell[];
  history: Array<{
    id: string;
    channel: Channel;
    kind: MessageKind;
    granted: boolean;
    source: store.ConsentRow['source'];
    actor: string;
    note: string | null;
    at: string;
  }>;
}

export function createConsentService(deps: ConsentServiceDeps) {
  const { pool } = deps;
  const clock = deps.clock ?? Date.now;

  async function view(companyId: string, customerId: string): Promise<ConsentView> {
    const [answers, rows, events] = await Promise.all([
      store.answersOf(pool, companyId, customerId),
      store.consentRows(pool, companyId, customerId),
      store.consentEvents(pool, companyId, customerId, 200),
    ]);
    if (!answers) throw new NotFoundError('customer', customerId);
    const consents: ConsentCell[] = [];
    for (const channel of CHANNELS) {
      for (const kind of MESSAGE_KINDS) {
        const row = rows.find((r) => r.channel === channel && r.kind === kind);
        consents.push({
          channel,
          kind,
          decision: decide(kind, channel, answers.answers, answers.optionalDefault),
          granted: row ? row.granted : null,
          source: row ? row.source : 'default',
          actor: row?.actor ?? null,
          note: row?.note ?? null,
          changedAt: row ? row.changed_at.toISOString() : null,
        });
      }
    }
    return {
      customerId,
      optionalMessagesDefault: answers.optionalDefault ? 'allowed' : 'denied',
      consents,
      history: events.map((e) => ({
        id: e.id,
        channel: e.channel,
        kind: e.kind,
        granted: e.granted,
        source: e.source,
        actor: e.actor,
        note: e.note,
        at: e.at.toISOString(),
      })),
    };
  }

  return {
    getConsents: view,

    /**
     * Records the customer's answers, all or none (one transaction). An answer equal to the current
     * one changes nothing and adds no history. `kind: 'all'` sets both kinds.
     */
    async updateConsents(
      companyId: string,
      customerId: string,
      changes: Array<{ channel: Channel | 'all'; kind: MessageKind | 'all'; granted: boolean; note?: string | null }>,
      actor: ConsentActor,
    ): Promise<{ changed: number; consent: ConsentView }> {
      const changed = await withTransaction(pool, async (tx) => {
        if (!(await store.customerExists(tx, companyId, customerId))) throw new NotFoundError('customer', customerId);
        let n = 0;
        for (const c of changes) {
          for (const channel of c.channel === 'all' ? CHANNELS : [c.channel]) {
            for (const kind of c.kind === 'all' ? MESSAGE_KINDS : [c.kind]) {
              const did = await store.setConsent(tx, {
                companyId,
                customerId,
                channel,
                kind,
                granted: c.granted,
                source: 'api',
                apiKeyId: actor.apiKeyId,
                actor: actor.label,
                note: c.note ?? null,
              });
              if (did) n++;
            }
          }
        }
        return n;
      });
      return { changed, consent: await view(companyId, customerId) };
    },

    async setOptionalDefault(companyId: string, allowed: boolean): Promise<{ optionalMessagesDefault: 'allowed' | 'denied' }> {
      await store.setOptionalDefault(pool, companyId, allowed);
      return { optionalMessagesDefault: (await store.optionalDefault(pool, companyId)) ? 'allowed' : 'denied' };
    },

    async getOptionalDefault(companyId: string): Promise<{ optionalMessagesDefault: 'allowed' | 'denied' }> {
      return { optionalMessagesDefault: (await store.optionalDefault(pool, companyId)) ? 'allowed' : 'denied' };
    },

    /** Checks an unsubscribe link without changing anything (the page a GET shows). */
    checkUnsubscribe(token: string): TokenCheck {
      return verifyUnsubscribeToken(deps.unsubscribeSecret, token, clock());
    },

    /**
     * The one-click unsubscribe (RFC 8058 POST): opts the customer out of what the email's link
     * names: its channel and kind (opting out of transactional email covers optional email too, by
     * the rules). A tampered or expired link changes nothing; a replayed one changes nothing again.
     */
    async unsubscribe(
      token: string,
    ): Promise<{ ok: false; reason: 'invalid' | 'expired' } | { ok: true; changed: boolean; claims: UnsubscribeClaims }> {
      const check = verifyUnsubscribeToken(deps.unsubscribeSecret, token, clock());
      if (!check.ok) return check;
      const { claims } = check;
      const changed = await withTransaction(pool, async (tx) => {
        // A customer erased since the email was sent: nothing left to opt out.
        if (!(await store.customerExists(tx, claims.companyId, claims.customerId))) return false;
        return store.setConsent(tx, {
          companyId: claims.companyId,
          customerId: claims.customerId,
          channel: claims.channel,
          kind: claims.kind,
          granted: false,
          source: 'unsubscribe_link',
          apiKeyId: null,
          actor: 'unsubscribe link',
          note: null,
        });
      });
      deps.logger?.info({ companyId: claims.companyId, customerId: claims.customerId, channel: claims.channel, changed }, 'unsubscribed');
      return { ok: true, changed, claims };
    },

    /**
     * An inbound SMS (already authenticated as Twilio's): STOP and its synonyms opt the number out
     * of SMS (both kinds), START opts it back in, for every customer with that number in every
     * company (the sending number is the platform's), matched in E.164. Anything else is ignored.
     */
    async inboundSms(from: string, body: string): Promise<{ action: 'opt_out' | 'opt_in' | 'none'; customers: number; changed: number }> {
      const action = smsKeyword(body);
      if (!action) return { action: 'none', customers: 0, changed: 0 };
      // Twilio sends the sender in E.164; a number that does not read (a short code, a name) is nobody's.
      const number = e164OrUndefined(from, null);
      if (!number) return { action, customers: 0, changed: 0 };
      return withTransaction(pool, async (tx) => {
        const customers = await store.customersByPhone(tx, number);
        let changed = 0;
        for (const c of customers) {
          const did = await store.setConsent(tx, {
            companyId: c.company_id,
            customerId: c.id,
            channel: 'sms',
            kind: 'transactional',
            granted: action === 'opt_in',
            source: 'sms_keyword',
            apiKeyId: null,
            actor: `sms ${body.trim().toUpperCase().slice(0, 20)} from ${maskNumber(number)}`,
            note: null,
          });
          if (did) changed++;
        }
        return { action, customers: customers.length, changed };
      });
    },
  };
}

export type ConsentService = ReturnType<typeof createConsentService>;

/** The last three digits only (the history records which message, not the whole number twice). */
const maskNumber = (phone: string) => phone.replace(/\d(?=\d{3})/g, '*');
