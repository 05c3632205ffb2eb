import type { Queryable } from '../db/transaction';
import type { Channel, ConsentAnswer, ConsentSource, MessageKind } from './definitions';

/**
 * Every SQL statement on the consent tables (customer_consents, customer_consent_events) and the
 * company's default for optional messages. Scoped by company, except the SMS keyword lookup, which
 * starts from a phone number (see customersByPhone).
 */

export interface ConsentRow {
  channel: Channel;
  kind: MessageKind;
  granted: boolean;
  source: ConsentSource;
  api_key_id: string | null;
  actor: string;
  note: string | null;
  changed_at: Date;
}

/** A customer's answers and the company's default for optional messages; undefined: no such customer in the company. */
export async function answersOf(
  db: Queryable,
  companyId: string,
  customerId: string,
): Promise<{ optionalDefault: boolean; answers: ConsentAnswer[] } | undefined> {
  const { rows } = await db.query(
    `SELECT co.optional_messages_default,
            coalesce(jsonb_agg(jsonb_build_object('channel', cc.channel, 'kind', cc.kind, 'granted', cc.granted))
                     FILTER (WHERE cc.channel IS NOT NULL), '[]') AS answers
       FROM customers cu
       JOIN companies co ON co.id = cu.company_id
       LEFT JOIN customer_consents cc ON cc.company_id = cu.company_id AND cc.customer_id = cu.id
      WHERE cu.company_id = $1 AND cu.id = $2
      GROUP BY co.optional_messages_default`,
    [companyId, customerId],
  );
  return rows[0] ? { optionalDefault: rows[0].optional_messages_default, answers: rows[0].answers } : undefined;
}

export async function consentRows(db: Queryable, companyId: string, customerId: string): Promise<ConsentRow[]> {
  const { rows } = await db.query<ConsentRow>(
    `SELECT channel, kind, granted, source, api_key_id, actor, note, changed_at FROM customer_consents
      WHERE company_id = $1 AND customer_id = $2 ORDER BY channel, kind`,
    [companyId, customerId],
  );
  return rows;
}

export interface ConsentChange {
  companyId: string;
  customerId: string;
  channel: Channel;
  kind: MessageKind;
  granted: boolean;
  source: ConsentSource;
  apiKeyId: string | null;
  actor: string;
  note: string | null;
}

/**
 * Records an answer: the current row (created or changed) and an event, both only when the answer
 * differs from the current one, so a repeated request (a replayed unsubscribe link, a second STOP)
 * changes nothing. Returns whether it changed. Run it in a transaction.
 */
export async function setConsent(tx: Queryable, c: ConsentChange): Promise<boolean> {
  const { rowCount } = await tx.query(
    `INSERT INTO customer_consents (company_id, customer_id, channel, kind, granted, source, api_key_id, actor, note, changed_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())
     ON CONFLICT (company_id, customer_id, channel, kind) DO UPDATE
        SET granted = EXCLUDED.granted, source = EXCLUDED.source, api_key_id = EXCLUDED.api_key_id,
            actor = EXCLUDED.actor, note = EXCLUDED.note, changed_at = EXCLUDED.changed_at
      WHERE customer_consents.granted IS DISTINCT FROM EXCLUDED.granted`,
    [c.companyId, c.customerId, c.channel, c.kind, c.granted, c.source, c.apiKeyId, c.actor, c.note],
  );
  if (!rowCount) return false;
  await tx.query(
    `INSERT INTO customer_consent_events (company_id, customer_id, channel, kind, granted, source, api_key_id, actor, note)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [c.companyId, c.customerId, c.channel, c.kind, c.granted, c.source, c.apiKeyId, c.actor, c.note],
  );
  return true;
}

export interface ConsentEventRow extends ConsentRow {
  id: string;
  at: Date;
}

/** The customer's consent history, newest first. */
export async function consentEvents(db: Queryable, companyId: string, customerId: string, limit: number): Promise<ConsentEventRow[]> {
  const { rows } = await db.query<ConsentEventRow>(
    `SELECT id, channel, kind, granted, source, api_key_id, actor, note, at, at AS changed_at FROM customer_consent_events
      WHERE company_id = $1 AND customer_id = $2 ORDER BY at DESC, id DESC LIMIT $3`,
    [companyId, customerId, limit],
  );
  return rows;
}

/**
 * The customers, in every company, with this phone number (E.164: stored numbers are, and so is
 * the sender's). An SMS keyword is sent to the platform's number, which every company shares, so
 * it answers for all of them.
 */
export async function customersByPhone(db: Queryable, e164: string): Promise<Array<{ company_id: string; id: string }>> {
  const { rows } = await db.query(`SELECT company_id, id FROM customers WHERE phone = $1`, [e164]);
  return rows;
}

export async function customerExists(db: Queryable, companyId: string, customerId: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM customers WHERE company_id = $1 AND id = $2`, [companyId, customerId]);
  return (rowCount ?? 0) > 0;
}

export async function optionalDefault(db: Queryable, companyId: string): Promise<boolean> {
  const { rows } = await db.query(`SELECT optional_messages_default FROM companies WHERE id = $1`, [companyId]);
  return rows[0]?.optional_messages_default ?? true;
}

export async function setOptionalDefault(db: Queryable, companyId: string, value: boolean): Promise<void> {
  await db.query(`UPDATE companies SET optional_messages_default = $2, updated_at = now() WHERE id = $1`, [companyId, value]);
}

// ---- personal data (export and erasure, src/privacy/) ----

/** The customer's answers and their whole history, as stored. */
export async function customerConsentExport(
  db: Queryable,
  companyId: string,
  customerId: string,
): Promise<{ consents: Record<string, unknown>[]; consentEvents: Record<string, unknown>[] }> {
  const { rows } = await db.query(
    `SELECT (SELECT coalesce(jsonb_agg(to_jsonb(c) ORDER BY c.channel, c.kind), '[]')
               FROM customer_consents c WHERE c.company_id = $1 AND c.customer_id = $2) AS consents,
            (SELECT coalesce(jsonb_agg(to_jsonb(e) ORDER BY e.at, e.id), '[]')
               FROM customer_consent_events e WHERE e.company_id = $1 AND e.customer_id = $2) AS "consentEvents"`,
    [companyId, customerId],
  );
  return rows[0];
}

/**
 * The answers stay (an opt-out is still honoured should the customer be entered again under this
 * id) and so does their history of who and when; free-text notes go.
 */
export async function eraseCustomerConsentNotes(tx: Queryable, companyId: string, customerId: string): Promise<Record<string, number>> {
  const consents = await tx.query(
    `UPDATE customer_consents SET note = NULL WHERE company_id = $1 AND customer_id = $2 AND note IS NOT NULL`,
    [companyId, customerId],
  );
  const events = await tx.query(
    `UPDATE customer_consent_events SET note = NULL WHERE company_id = $1 AND customer_id = $2 AND note IS NOT NULL`,
    [companyId, customerId],
  );
  return { customer_consents: consents.rowCount ?? 0, customer_consent_events: events.rowCount ?? 0 };
}
