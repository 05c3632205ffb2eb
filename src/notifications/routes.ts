import {
  AnalyticsQuery,
  AnalyticsView,
  EventTypeSchema,
  EventTypeView,
  NotificationConfigInput,
  NotificationConfigView,
  NotificationView,
  ResolvedConfigView,
  SendNotificationInput,
  SendNotificationBatchInput,
  SendNotificationResult,
  BatchResult,
  CancelResult,
} from './schemas';
import type { NotificationService } from './service';
import { NOTIFIABLE_TYPES } from './rules';
import type { ApiRoutes } from '../api/route';
import { ErrorResponse, IdempotencyKeyHeader, IdParams, text, Uuid } from '../api/fields';
import { z } from '../api/zod';

const ResolveQuery = z.object({ eventType: EventTypeSchema, notifiableType: z.enum(NOTIFIABLE_TYPES), notifiableId: Uuid }).strict();
const CancelBody = z.object({ reason: text(1, 500).optional() }).strict();

/** Notification configuration, sending (one workflow per notification), reading, cancelling, analytics. */
export function notificationRoutes(routes: ApiRoutes, service: NotificationService): void {
  routes
    .add({
      method: 'put',
      path: '/v1/notification-configs',
      summary: 'Set the notification configuration of an entity for one event (null settings inherit)',
      tags: ['notifications'],
      access: 'manager',
      body: NotificationConfigInput,
      responses: {
        200: { description: 'Replaced', schema: NotificationConfigView },
        201: { description: 'Created', schema: NotificationConfigView },
      },
      handler: async ({ auth, body }) => {
        const { created, config } = await service.upsertNotificationConfig(auth.companyId, body);
        return { status: created ? 201 : 200, body: config };
      },
    })
    .add({
      method: 'get',
      path: '/v1/notification-configs/resolve',
      summary: 'What a notification to this recipient would use now, with each setting’s source level',
      tags: ['notifications'],
      access: 'agent',
      query: ResolveQuery,
      responses: { 200: { description: 'Resolved settings and provenance', schema: ResolvedConfigView } },
      handler: async ({ auth, query }) => ({
        status: 200,
        body: await service.resolveNotificationConfig(auth.companyId, {
          eventType: query.eventType,
          notifiable: { type: query.notifiableType, id: query.notifiableId },
        }),
      }),
    })
    .add({
      method: 'post',
      path: '/v1/notifications',
      summary: 'Send a notification: records it and starts its durable workflow (notification-<id>)',
      tags: ['notifications'],
      access: 'agent',
      feature: 'notifications',
      headers: IdempotencyKeyHeader,
      body: SendNotificationInput,
      responses: {
        202: { description: 'Accepted; delivery proceeds in the workflow', schema: SendNotificationResult },
        200: { description: 'Replay of an earlier request with the same Idempotency-Key', schema: SendNotificationResult },
        409: {
          description: 'Idempotency-Key reused with a different body, or notifications are switched off for the company (feature_disabled)',
          schema: ErrorResponse,
        },
      },
      handler: async ({ auth, body, headers }) => {
        const result = await service.sendNotification(auth.companyId, body, headers['idempotency-key']);
        return {
          status: result.created ? 202 : 200,
          body: result,
          headers: { location: `/v1/notifications/${result.notification.id}` },
        };
      },
    })
    .add({
      method: 'post',
      path: '/v1/notifications/batch',
      summary: 'Send up to 100 notifications; each is its own notification and workflow, reported per item',
      tags: ['notifications'],
      access: 'agent',
      feature: 'notifications',
      headers: IdempotencyKeyHeader,
      body: SendNotificationBatchInput,
      responses: {
        202: { description: 'Every item accepted (or replayed)', schema: BatchResult },
        207: { description: 'Some items failed (e.g. Temporal unavailable); retry with the same Idempotency-Key', schema: BatchResult },
      },
      handler: async ({ auth, body, headers }) => {
        const result = await service.sendNotificationBatch(auth.companyId, body, headers['idempotency-key']);
        return { status: result.failed > 0 ? 207 : 202, body: result };
      },
    })
    .add({
      method: 'get',
      path: '/v1/notifications/:id',
      summary: 'A notification with every delivery attempt, its resolved settings and live state',
      tags: ['notifications'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The notification', schema: NotificationView } },
      handler: async ({ auth, params }) => ({ status: 200, body: await service.getNotification(auth.companyId, params.id) }),
    })
    .add({
      method: 'post',
      path: '/v1/notifications/:id/cancel',
      summary: 'Cancel a notification that is still waiting (for a retry or a send window)',
      tags: ['notifications'],
      access: 'manager',
      params: IdParams,
      body: CancelBody,
      responses: {
        200: { description: 'Cancelled (it was waiting), or it finished otherwise meanwhile (`outcome` says how)', schema: CancelResult },
        202: {
          description:
            'Cancel requested while an attempt is in flight: the attempt decides (delivered, or cancelled with no further attempt)',
          schema: CancelResult,
        },
        409: { description: 'Already finished (delivered, failed, suppressed or cancelled)', schema: ErrorResponse },
      },
      handler: async ({ auth, params, body }) => {
        const result = await service.cancelNotification(auth.companyId, params.id, body.reason);
        return { status: result.outcome === 'cancel_requested' ? 202 : 200, body: result };
      },
    })
    .add({
      method: 'get',
      path: '/v1/notification-events',
      summary: 'The seeded notification event types and their default channels',
      tags: ['notifications'],
      access: 'agent',
      responses: { 200: { description: 'Event types', schema: z.object({ items: z.array(EventTypeView) }) } },
      handler: async () => ({ status: 200, body: { items: await service.listEventTypes() } }),
    })
    .add({
      method: 'get',
      path: '/v1/analytics/notifications',
      summary: 'Delivery analytics per event and channel: sent, failed, fallback counts, p50/p95 latency',
      tags: ['notifications'],
      access: 'manager',
      query: AnalyticsQuery,
      responses: { 200: { description: 'Analytics over [from, to)', schema: AnalyticsView } },
      handler: async ({ auth, query }) => ({ status: 200, body: await service.notificationAnalytics(auth.companyId, query) }),
    });
}
