import { randomBytes, randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { withTransaction } from '../db/transaction';
import { NotFoundError, ValidationError } from '../errors';
import type { CalcomDeliveryView, EventMapInput, EventMapView, IntegrationInput, IntegrationView } from './schemas';
import { SecretBoxError, type SecretBox } from './secret-box';
import { bookingUidOfKey } from './rules';
import { sealFor, secretOf } from './secrets';
import * as store from './store';

/**
 * The operator's side of the integrations: the secret each provider signs with (sealed at rest with
 * SECRET_KEYS; shown in full once, when it is set or generated), the integration's own webhook URL
 * (an unguessable id in the path names the integration, so a delivery is checked against exactly
 * one secret and no secret has to be unique), the Cal.com event-type map, and the Cal.com
 * deliveries (unmapped and rejected ones are what an operator has to act on).
 */
export function createIntegrationService({ pool, secrets, publicBaseUrl }: { pool: Pool; secrets: SecretBox; publicBaseUrl: string }) {
  const base = publicBaseUrl.replace(/\/+$/, '');
  const view = (r: store.IntegrationRow, secret: string, shown: boolean): IntegrationView => {
    const webhookPath = `/webhooks/${r.provider}/${r.hook_id}`;
    return {
      id: r.id,
      provider: r.provider,
      enabled: r.enabled,
      defaultBranchId: r.default_branch_id,
      // Only the last four characters are ever shown again.
      secretHint: `…${secret.slice(-4)}`,
      ...(shown ? { secret } : {}),
      webhookPath,
      webhookUrl: `${base}${webhookPath}`,
      updatedAt: r.updated_at.toISOString(),
    };
  };

  /**
   * Sets the provider's secret (generated for a new integration when left out); answers a new
   * secret once in full. The row is locked while its secret is sealed for it (the seal is bound to
   * the row's id); a concurrent first PUT of the same provider is retried as a replacement.
   */
  async function putIntegration(
    companyId: string,
    provider: store.Provider,
    input: IntegrationInput,
  ): Promise<{ created: boolean; integration: IntegrationView }> {
    if (input.defaultBranchId && !(await store.branchExists(pool, companyId, input.defaultBranchId)))
      throw new NotFoundError('branch', input.defaultBranchId);
    for (let attempt = 0; ; attempt++) {
      const done = await withTransaction(pool, async (tx) => {
        const current = await store.integrationForUpdate(tx, companyId, provider);
        // Left out: the current secret stays (enabling or disabling does not rotate it); a new integration gets a generated one.
        const secret = input.secret ?? (current ? secretOf(secrets, current) : `whsec_${randomBytes(24).toString('hex')}`);
        const shown = input.secret !== undefined || !current;
        const settings = { enabled: input.enabled, defaultBranchId: input.defaultBranchId ?? null };
        if (current) {
          const row = await store.updateIntegration(tx, companyId, current.id, {
            ...settings,
            secret: sealFor(secrets, current.id, secret),
          });
          return { created: false, integration: view(row, secret, shown) };
        }
        const id = randomUUID();
        const row = await store.insertIntegration(
          tx,
          companyId,
          provider,
          { id, hookId: randomBytes(24).toString('base64url') },
          { ...settings, secret: sealFor(secrets, id, secret) },
        );
        return row ? { created: true, integration: view(row, secret, shown) } : undefined;
      });
      if (done) return done;
      if (attempt > 0) throw new Error(`integration ${provider} of company ${companyId} could not be written`);
    }
  }

  /** The company's integrations; a secret this process cannot open (a key missing from SECRET_KEYS) shows as `????`. */
  async function listIntegrations(companyId: string): Promise<IntegrationView[]> {
    return (await store.listIntegrations(pool, companyId)).map((r) => {
      try {
        return view(r, secretOf(secrets, r), false);
      } catch (error) {
        if (!(error instanceof SecretBoxError)) throw error;
        return view(r, '????', false);
      }
    });
  }

  const mapView = (r: store.EventMapRow): EventMapView => ({
    id: r.id,
    eventTypeId: r.calcom_event_type_id,
    branchId: r.branch_id,
    serviceId: r.service_id,
    staffId: r.staff_id,
    updatedAt: r.updated_at.toISOString(),
  });

  async function putEventMap(
    companyId: string,
    eventTypeId: string,
    input: EventMapInput,
  ): Promise<{ created: boolean; map: EventMapView }> {
    const m = { branchId: input.branchId, serviceId: input.serviceId, staffId: input.staffId ?? null };
    const refs = await store.mapReferences(pool, companyId, m);
    if (!refs.branch) throw new NotFoundError('branch', input.branchId);
    const issues = [];
    if (!refs.service) issues.push({ field: 'body.serviceId', message: `not a service of branch ${input.branchId}` });
    if (!refs.staff) issues.push({ field: 'body.staffId', message: `not a staff member of branch ${input.branchId}` });
    if (issues.length) throw new ValidationError(`invalid request: ${issues.map((i) => i.field).join(', ')}`, issues);
    const row = await store.upsertEventMap(pool, companyId, eventTypeId, m);
    return { created: row.inserted, map: mapView(row) };
  }

  /** A company's Cal.com deliveries, newest first, with the body where one is kept (rejected and unmapped ones, for a while). */
  async function listDeliveries(
    companyId: string,
    q: { outcome?: store.DeliveryOutcome | 'duplicate'; limit: number; offset: number },
  ): Promise<CalcomDeliveryView[]> {
    return (await store.listDeliveries(pool, companyId, q)).map((r) => ({
      id: r.id,
      trigger: r.trigger_event,
      key: r.booking_uid,
      bookingUid: bookingUidOfKey(r.booking_uid),
      rescheduleUid: r.reschedule_uid,
      eventTypeId: r.event_type_id,
      outcome: r.outcome,
      detail: r.detail,
      appointmentId: r.appointment_id,
      deliveries: r.deliveries,
      firstReceivedAt: r.first_received_at.toISOString(),
      lastReceivedAt: r.last_received_at.toISOString(),
      body: r.payload ?? null,
    }));
  }

  return { putIntegration, listIntegrations, putEventMap, listDeliveries };
}

export type IntegrationService = ReturnType<typeof createIntegrationService>;
