import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Channel, NotificationEventType } from '../domain/notification-events';

/**
 * The notification workflow's contract, shared by the workflow (handlers) and the service
 * (client calls). Definitions only: no I/O.
 */
export const notificationWorkflowId = (notificationId: string) => `notification-${notificationId}`;

export interface NotificationWorkflowInput {
  notificationId: string;
  companyId: string;
  eventType: NotificationEventType;
}

export const NOTIFICATION_STATUSES = ['pending', 'waiting', 'sending', 'delivered', 'failed', 'suppressed', 'cancelled'] as const;
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number];
export type NotificationFinalStatus = 'delivered' | 'failed' | 'suppressed' | 'cancelled';
export const FINAL_STATUSES: readonly NotificationFinalStatus[] = ['delivered', 'failed', 'suppressed', 'cancelled'];
export const isFinalStatus = (s: string): s is NotificationFinalStatus => (FINAL_STATUSES as readonly string[]).includes(s);

export interface AttemptSummary {
  attempt: number;
  channel: Channel;
  provider: string;
  isFallback: boolean;
  outcome: 'sent' | 'failed';
  errorKind: 'transient' | 'permanent' | 'template' | 'unknown' | null;
  error: string | null;
}

/** Live state, answered by the workflow (query) while it runs. */
export interface NotificationLiveState {
  notificationId: string;
  status: NotificationStatus;
  reason: string | null;
  /** The channel being tried (the fallback's once it is reached). */
  channel: Channel | null;
  attempts: AttemptSummary[];
  waitingFor: 'retry' | 'quiet_hours' | null;
  /** ISO time the current wait ends (workflow time). */
  waitingUntil: string | null;
  cancelRequested: boolean;
}

export interface NotificationResult {
  status: NotificationFinalStatus;
  reason: string | null;
  attempts: number;
  delivered: { channel: Channel; provider: string; attempt: number; isFallback: boolean } | null;
}

export const notificationStateQuery = defineQuery<NotificationLiveState>('notificationState');

/**
 * Cancels a pending notification (waiting for a retry or its send window). Rejected by the
 * validator once the notification is final; an attempt already in flight finishes first, and if it
 * delivered, the reply says so. Resolves with the notification's final status.
 */
export interface CancelNotificationRequest {
  reason?: string;
}
export const cancelNotificationUpdate = defineUpdate<
  { status: NotificationFinalStatus; reason: string | null },
  [CancelNotificationRequest]
>('cancelNotification');

/** Error types of the requestNotification activity that a caller should list as non-retryable. */
export const REQUEST_NOTIFICATION_NON_RETRYABLE = ['ValidationError', 'NotFoundError', 'ConflictError'];
