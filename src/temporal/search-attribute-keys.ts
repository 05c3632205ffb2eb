import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

/**
 * Custom search attributes carried by the product's workflow runs, so that
 * `temporal workflow list --query "CompanyId='…' AND CallbackStatus='assigned'"` and the Web UI
 * find them. Pure definitions: workflows import the keys to upsert them.
 *
 * Budget: Temporal on PostgreSQL (docker-compose) has a fixed number of custom attribute slots
 * per namespace and type (Keyword 10, Bool 3, Datetime 3, Double 3, Int 3, Text 3, KeywordList 3),
 * so keys are shared across workflow types where the meaning is the same (CompanyId, BranchId,
 * StaffId) and test/temporal/search-attributes.test.ts counts them against those limits.
 * Values are stored unencrypted: ids and states only, never names, phone numbers or addresses.
 */
export const CompanyId = defineSearchAttributeKey('CompanyId', SearchAttributeType.KEYWORD);
export const BranchId = defineSearchAttributeKey('BranchId', SearchAttributeType.KEYWORD);
/** The staff member a run is about: a callback's assignee, an appointment's staff member. */
export const StaffId = defineSearchAttributeKey('StaffId', SearchAttributeType.KEYWORD);
export const CallbackPriority = defineSearchAttributeKey('CallbackPriority', SearchAttributeType.KEYWORD);
export const CallbackStatus = defineSearchAttributeKey('CallbackStatus', SearchAttributeType.KEYWORD);
export const CallbackEscalated = defineSearchAttributeKey('CallbackEscalated', SearchAttributeType.BOOL);
export const CallbackDueAt = defineSearchAttributeKey('CallbackDueAt', SearchAttributeType.DATETIME);
export const NotificationEventType = defineSearchAttributeKey('NotificationEventType', SearchAttributeType.KEYWORD);
export const NotificationChannel = defineSearchAttributeKey('NotificationChannel', SearchAttributeType.KEYWORD);
export const NotificationStatus = defineSearchAttributeKey('NotificationStatus', SearchAttributeType.KEYWORD);
/** An appointment's status (scheduled, confirmed, cancelled, completed, no_show), as its workflow last read it. */
export const AppointmentStatus = defineSearchAttributeKey('AppointmentStatus', SearchAttributeType.KEYWORD);
/** An appointment's start: `AppointmentStartsAt >= '…' AND AppointmentStartsAt < '…'` lists a day's appointments. */
export const AppointmentStartsAt = defineSearchAttributeKey('AppointmentStartsAt', SearchAttributeType.DATETIME);
/**
 * A run an operator should look at, whatever its workflow type: a step that spent its retry budget
 * (the database unreachable for hours) and is being retried, a message given up, a bug that ended
 * the run. Its row, its live state or its failure says what. `NeedsAttention = true` lists them.
 */
export const NeedsAttention = defineSearchAttributeKey('NeedsAttention', SearchAttributeType.BOOL);

export const ALL_SEARCH_ATTRIBUTES: SearchAttributeKey<SearchAttributeType>[] = [
  CompanyId,
  BranchId,
  StaffId,
  CallbackPriority,
  CallbackStatus,
  CallbackEscalated,
  CallbackDueAt,
  NotificationEventType,
  NotificationChannel,
  NotificationStatus,
  AppointmentStatus,
  AppointmentStartsAt,
  NeedsAttention,
];

/** Custom attribute slots per namespace and type on Temporal's PostgreSQL visibility (schema v12, server 1.32). */
export const SEARCH_ATTRIBUTE_SLOTS: Partial<Record<SearchAttributeType, number>> = {
  [SearchAttributeType.KEYWORD]: 10,
  [SearchAttributeType.BOOL]: 3,
  [SearchAttributeType.DATETIME]: 3,
  [SearchAttributeType.DOUBLE]: 3,
  [SearchAttributeType.INT]: 3,
  [SearchAttributeType.TEXT]: 3,
  [SearchAttributeType.KEYWORD_LIST]: 3,
};
