import { ErrorResponse, IdempotencyKeyHeader, IdParams } from '../api/fields';
import type { AuthContext } from '../api/auth';
import type { Role } from '../api/roles';
import type { ApiRoutes } from '../api/route';
import { z } from '../api/zod';
import type { Actor } from './definitions';
import {
  AnalyticsQuery,
  CallbackAnalytics,
  CallbackDetail,
  CallbackPage,
  CallbackQuery,
  CallbackSettingsInput,
  CallbackSettingsView,
  CancelBody,
  CompleteBody,
  CreateCallback,
  CreatedCallback,
  EscalateBody,
  OpenEscalationList,
  OverdueList,
  ReassignBody,
  RecordAttemptBody,
  SettingsQuery,
} from './schemas';
import type { CallbackService, MessageKind } from './service';

const actorOf = (auth: AuthContext): Actor => ({
  kind: 'api',
  role: auth.role,
  staffId: auth.staffId ?? null,
  label: `api key ${auth.keyId}`,
});

const MessageResult = z.object({ applied: z.boolean(), callback: CallbackDetail }).openapi('CallbackMessageResult');

/** Callback requests (one workflow each), their messages, settings, lists and analytics. Thin: parse, authorise, call the service. */
export function callbackRoutes(routes: ApiRoutes, callbacks: CallbackService): void {
  routes
    .add({
      method: 'post',
      path: '/v1/callbacks',
      summary: 'Request a callback: records it and starts its durable workflow (callback-<id>)',
      tags: ['callbacks'],
      access: 'agent',
      feature: 'callbacks',
      headers: IdempotencyKeyHeader,
      body: CreateCallback,
      responses: {
        201: { description: 'Created; assignment, SLA timers and escalation run in the workflow', schema: CreatedCallback },
        200: { description: 'Replay of an earlier request with the same Idempotency-Key', schema: CreatedCallback },
        409: {
          description:
            'Idempotency-Key reused with another body, the staff member to assign to is unavailable, or callbacks are switched off for the company (feature_disabled)',
          schema: ErrorResponse,
        },
      },
      handler: async ({ auth, body, headers }) => {
        const result = await callbacks.createCallback(auth.companyId, body, { role: auth.role }, headers['idempotency-key']);
        return { status: result.created ? 201 : 200, body: result, headers: { location: `/v1/callbacks/${result.callback.id}` } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/callbacks',
      summary: 'List callbacks by branch, status, priority and assignee, newest first (cursor pagination)',
      tags: ['callbacks'],
      access: 'agent',
      query: CallbackQuery,
      responses: { 200: { description: 'A page of callbacks', schema: CallbackPage } },
      handler: async ({ auth, query }) => ({ status: 200, body: await callbacks.listCallbacks(auth.companyId, query) }),
    })
    .add({
      method: 'get',
      path: '/v1/callbacks/:id',
      summary: 'A callback with its attempts, escalations and live workflow state',
      tags: ['callbacks'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The callback', schema: CallbackDetail } },
      handler: async ({ auth, params }) => ({ status: 200, body: await callbacks.getCallback(auth.companyId, params.id) }),
    })
    .add({
      method: 'get',
      path: '/v1/branches/:id/callbacks/overdue',
      summary: 'The open callbacks of a branch with their overdue hours (0 when not overdue), by priority then age',
      tags: ['callbacks'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'Open callbacks', schema: OverdueList } },
      handler: async ({ auth, params }) => ({ status: 200, body: await callbacks.overdue(auth.companyId, params.id) }),
    })
    .add({
      method: 'get',
      path: '/v1/branches/:id/callbacks/escalations',
      summary: 'The escalations of a branch waiting for a manager (unresolved, on open callbacks), oldest first, each with its callback',
      tags: ['callbacks'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'Open escalations', schema: OpenEscalationList } },
      handler: async ({ auth, params }) => ({ status: 200, body: await callbacks.openEscalations(auth.companyId, params.id) }),
    })
    .add({
      method: 'get',
      path: '/v1/analytics/callbacks',
      summary: 'Per branch and priority: count, breach rate, median time to first contact and to completion, escalations by reason',
      tags: ['callbacks'],
      access: 'manager',
      query: AnalyticsQuery,
      responses: { 200: { description: 'Callbacks created in [from, to) (default: the last 30 days)', schema: CallbackAnalytics } },
      handler: async ({ auth, query }) => ({ status: 200, body: await callbacks.analytics(auth.companyId, query) }),
    })
    .add({
      method: 'get',
      path: '/v1/callback-settings',
      summary: 'The callback settings a callback created now would take, each with its source (branch > company > defaults)',
      tags: ['callbacks'],
      access: 'agent',
      query: SettingsQuery,
      responses: { 200: { description: 'Effective settings', schema: CallbackSettingsView } },
      handler: async ({ auth, query }) => ({ status: 200, body: await callbacks.getSettings(auth.companyId, query.branchId ?? null) }),
    })
    .add({
      method: 'put',
      path: '/v1/callback-settings',
      summary: 'Set the callback settings of the company or of a branch (seconds; null inherits); running callbacks keep theirs',
      tags: ['callbacks'],
      access: 'manager',
      body: CallbackSettingsInput,
      responses: {
        200: { description: 'Replaced', schema: CallbackSettingsView },
        201: { description: 'Created', schema: CallbackSettingsView },
      },
      handler: async ({ auth, body }) => {
        const { created, settings } = await callbacks.putSettings(auth.companyId, body);
        return { status: created ? 201 : 200, body: settings };
      },
    });

  const messages: Array<{ kind: MessageKind; path: string; summary: string; access: Role; body: Parameters<ApiRoutes['add']>[0]['body'] }> =
    [
      {
        kind: 'attempt',
        path: 'attempts',
        summary: 'Record a contact attempt and its outcome (the assignee or a manager)',
        access: 'agent',
        body: RecordAttemptBody,
      },
      {
        kind: 'complete',
        path: 'complete',
        summary: 'Complete the callback, with notes (the assignee or a manager)',
        access: 'agent',
        body: CompleteBody,
      },
      {
        kind: 'reassign',
        path: 'reassign',
        summary: 'Reassign to a staff member of the branch, or let the assignment rules choose another',
        access: 'manager',
        body: ReassignBody,
      },
      { kind: 'cancel', path: 'cancel', summary: 'Cancel the callback', access: 'manager', body: CancelBody },
      {
        kind: 'escalate',
        path: 'escalate',
        summary: 'Escalate to a manager by hand (not within the cooldown)',
        access: 'manager',
        body: EscalateBody,
      },
    ];
  for (const m of messages) {
    routes.add({
      method: 'post',
      path: `/v1/callbacks/:id/${m.path}`,
      summary: `${m.summary}. Honours Idempotency-Key: a retry reaches the same update and gets the first answer`,
      tags: ['callbacks'],
      access: m.access,
      params: IdParams,
      headers: IdempotencyKeyHeader,
      body: m.body,
      responses: {
        200: { description: 'Applied: the new state', schema: MessageResult },
        202: { description: 'Accepted and being applied (it took longer than the answer may): the state as it is', schema: MessageResult },
        403: { description: 'An agent acting on a callback assigned to someone else', schema: ErrorResponse },
        409: {
          description:
            'Not allowed in the callback’s state (the message names the transition), or the Idempotency-Key was used for another request',
          schema: ErrorResponse,
        },
        503: {
          description: 'Temporal or the workflow did not answer in time (retry with the same Idempotency-Key: the message is applied once)',
          schema: ErrorResponse,
        },
      },
      handler: async ({ auth, params, body, headers }) => {
        const result = await callbacks.message(
          auth.companyId,
          params.id,
          m.kind,
          (body ?? {}) as Record<string, unknown>,
          actorOf(auth),
          headers['idempotency-key'],
        );
        return { status: result.applied ? 200 : 202, body: result };
      },
    });
  }
}
