import { forbidden } from '../api/errors';
import { ErrorResponse, IdempotencyKeyHeader, IdParams } from '../api/fields';
import { roleAtLeast } from '../api/roles';
import type { ApiRoutes } from '../api/route';
import { z } from '../api/zod';
import {
  CancelInput,
  EntityQuery,
  ModificationResult,
  PolicyView,
  PutPolicyInput,
  QuoteView,
  RescheduleInput,
  ResolveBatchInput,
  ResolvedView,
  ResolveQuery,
} from './schemas';
import type { Actor, PolicyService } from './service';

type KeyRole = 'agent' | 'manager' | 'admin';
const actorOf = (auth: { keyId: string; role: KeyRole }): Actor => ({ keyId: auth.keyId, role: auth.role });

/** Overriding a denial is a manager's decision: asking for it with a weaker key is refused before anything is read. */
function assertMayOverride(auth: { role: KeyRole }, override: unknown): void {
  if (override && !roleAtLeast(auth.role, 'manager'))
    throw forbidden(`overriding a policy needs the manager role; the key has ${auth.role}`);
}

const DENIED = {
  description:
    'Denied by the policy (code policy_denied, `details.decision` says why, with the fee and quota), or the appointment is already cancelled, completed or a no-show (invalid_state), an Idempotency-Key reused, or policies switched off for the company (feature_disabled)',
  schema: ErrorResponse,
};

/** The policy configuration service and the cancellation/reschedule engine (docs/design.md, Policies and API contract). */
export function policyRoutes(routes: ApiRoutes, service: PolicyService): void {
  routes
    .add({
      method: 'put',
      path: '/v1/policies',
      summary: 'Create or replace the policy of one type on one entity (every config key validated)',
      tags: ['policies'],
      access: 'manager',
      body: PutPolicyInput,
      responses: {
        200: { description: 'Replaced (version + 1)', schema: PolicyView },
        201: { description: 'Created', schema: PolicyView },
        409: { description: 'expectedVersion does not match the live policy (version_conflict)', schema: ErrorResponse },
      },
      handler: async ({ auth, body }) => {
        const { created, policy } = await service.putPolicy(auth.companyId, body);
        return { status: created ? 201 : 200, body: policy };
      },
    })
    .add({
      method: 'get',
      path: '/v1/policies/resolve',
      summary: 'The nearest live policy through staff > service > branch > company, with the level it came from (null when none)',
      tags: ['policies'],
      access: 'agent',
      query: ResolveQuery,
      responses: { 200: { description: 'The resolution', schema: ResolvedView } },
      handler: async ({ auth, query }) => ({
        status: 200,
        body: await service.resolvePolicy(
          auth.companyId,
          { entityType: query.entityType, entityId: query.entityId, serviceId: query.serviceId },
          query.policyType,
        ),
      }),
    })
    .add({
      method: 'post',
      path: '/v1/policies/resolve',
      summary: 'Resolve one policy type for up to 1,000 entities at once (cache hits, then every miss in one query)',
      tags: ['policies'],
      access: 'agent',
      body: ResolveBatchInput,
      responses: { 200: { description: 'One resolution per entity, in order', schema: z.object({ items: z.array(ResolvedView) }) } },
      handler: async ({ auth, body }) => ({ status: 200, body: { items: await service.resolvePolicies(auth.companyId, body) } }),
    })
    .add({
      method: 'get',
      path: '/v1/policies',
      summary: 'The live policies set on one entity itself (no hierarchy)',
      tags: ['policies'],
      access: 'agent',
      query: EntityQuery,
      responses: { 200: { description: 'The entity’s own policies', schema: z.object({ items: z.array(PolicyView) }) } },
      handler: async ({ auth, query }) => ({ status: 200, body: { items: await service.entityPolicies(auth.companyId, query) } }),
    })
    .add({
      method: 'delete',
      path: '/v1/policies/:id',
      summary: 'Delete a policy (soft: appointments booked under it keep their terms)',
      tags: ['policies'],
      access: 'manager',
      params: IdParams,
      responses: { 200: { description: 'Deleted (deletedAt set)', schema: PolicyView } },
      handler: async ({ auth, params }) => ({ status: 200, body: await service.deletePolicy(auth.companyId, params.id) }),
    })
    .add({
      method: 'get',
      path: '/v1/appointments/:id/cancellation-quote',
      summary: 'What cancelling now would mean (allowed, fee, policy, quota left); changes nothing',
      tags: ['policies'],
      access: 'agent',
      feature: 'policies',
      params: IdParams,
      responses: {
        200: { description: 'The decision and the terms the appointment was booked under', schema: QuoteView },
        409: {
          description:
            'The appointment is already cancelled, completed or a no-show (invalid_state), or policies are switched off for the company (feature_disabled)',
          schema: ErrorResponse,
        },
      },
      handler: async ({ auth, params }) => ({ status: 200, body: await service.quoteCancellation(auth.companyId, params.id) }),
    })
    .add({
      method: 'post',
      path: '/v1/appointments/:id/cancel',
      summary: 'Cancel through the policy engine; a manager may override a denial with a reason',
      tags: ['policies'],
      access: 'agent',
      feature: 'policies',
      params: IdParams,
      headers: IdempotencyKeyHeader,
      body: CancelInput,
      responses: {
        200: { description: 'Cancelled: the decision, the record, the notifications sent', schema: ModificationResult },
        409: DENIED,
      },
      handler: async ({ auth, params, body, headers }) => {
        assertMayOverride(auth, body.override);
        const result = await service.cancelAppointment(auth.companyId, params.id, body, actorOf(auth), headers['idempotency-key']);
        return { status: 200, body: result };
      },
    })
    .add({
      method: 'post',
      path: '/v1/appointments/:id/reschedule',
      summary: 'Move to a new time through the policy engine; a manager may override a denial with a reason',
      tags: ['policies'],
      access: 'agent',
      feature: 'policies',
      params: IdParams,
      headers: IdempotencyKeyHeader,
      body: RescheduleInput,
      responses: {
        200: { description: 'Rescheduled: the decision, the record, the notifications sent', schema: ModificationResult },
        409: DENIED,
      },
      handler: async ({ auth, params, body, headers }) => {
        assertMayOverride(auth, body.override);
        const result = await service.rescheduleAppointment(auth.companyId, params.id, body, actorOf(auth), headers['idempotency-key']);
        return { status: 200, body: result };
      },
    });
}
