import { randomBytes } from 'node:crypto';
import type { Pool } from 'pg';
import { NotFoundError, ValidationError } from '../errors';
import type { CalcomDeliveryView, EventMapInput, EventMapView, IntegrationInput, IntegrationView } from './schemas';
import * as store from './store';

/**
 * The operator's side of the integrations: the secret each provider signs with (stored in the
 * integration row; shown once, when it is set or generated), the Cal.com event-type map, and the
 * Cal.com deliveries (the unmapped ones are what an operator has to act on).
 */
export function createIntegrationService({ pool }: { pool: Pool }) {
  const view = (r: store.IntegrationRow, secret?: string): IntegrationView => ({
    id: r.id,
    provider: r.provider,
    enabled: r.enabled,
    defaultBranchId: r.default_branch_id,
    // Only the last four characters are ever shown again.
    secretHint: `…${r.webhook_secret.slice(-4)}`,
    ...(secret ? { secret } : {}),
    webhookPath: r.provider === 'calcom' ? '/webhooks/calcom' : '/webhooks/retell',
    updatedAt: r.updated_at.toISOString(),
  });

  /** Sets the provider's secret (generated for a new integration when left out); answers a new secret once in full. */
  async function putIntegration(
    companyId: string,
    provider: store.Provider,
    input: IntegrationInput,
  ): Promise<{ created: boolean; integration: IntegrationView }> {
    if (input.defaultBranchId && !(await store.branchExists(pool, companyId, input.defaultBranchId)))
      throw new NotFoundError('branch', input.defaultBranchId);
    // Left out: the current secret stays (enabling or disabling does not rotate it); a new integration gets a generated one.
    const current = (await store.listIntegrations(pool, companyId)).find((i) => i.provider === provider);
    const secret = input.secret ?? current?.webhook_secret ?? `whsec_${randomBytes(24).toString('hex')}`;
    const shown = input.secret ?? (current ? undefined : secret);
    try {
      const row = await store.upsertIntegration(pool, companyId, provider, {
        secret,
        enabled: input.enabled,
        defaultBranchId: input.defaultBranchId ?? null,
      });
      return { created: row.inserted, integration: view(row, shown) };
    } catch (error) {
      if ((error as { code?: string }).code === '23505')
        throw new ValidationError('invalid request: body.secret', [{ field: 'body.secret', message: 'choose another secret' }]);
      throw error;
    }
  }

  async function listIntegrations(companyId: string): Promise<IntegrationView[]> {
    return (await store.listIntegrations(pool, companyId)).map((r) => view(r));
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

  async function listDeliveries(
    companyId: string,
    q: { outcome?: store.DeliveryOutcome; limit: number; offset: number },
  ): Promise<CalcomDeliveryView[]> {
    return (await store.listDeliveries(pool, companyId, q)).map((r) => ({
      id: r.id,
      trigger: r.trigger_event,
      bookingUid: r.booking_uid,
      rescheduleUid: r.reschedule_uid,
      eventTypeId: r.event_type_id,
      outcome: r.outcome,
      detail: r.detail,
      appointmentId: r.appointment_id,
      deliveries: r.deliveries,
      firstReceivedAt: r.first_received_at.toISOString(),
      lastReceivedAt: r.last_received_at.toISOString(),
    }));
  }

  return { putIntegration, listIntegrations, putEventMap, listDeliveries };
}

export type IntegrationService = ReturnType<typeof createIntegrationService>;
