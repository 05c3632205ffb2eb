import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes';

/**
 * Custom search attributes carried by the product's workflow runs, so that
 * `temporal workflow list --query "CompanyId='…' AND CallbackStatus='assigned'"` and the Web UI
 * find them. Pure definitions: workflows import the keys to upsert them.
 */
export const CompanyId = defineSearchAttributeKey('CompanyId', SearchAttributeType.KEYWORD);
export const BranchId = defineSearchAttributeKey('BranchId', SearchAttributeType.KEYWORD);
export const CallbackPriority = defineSearchAttributeKey('CallbackPriority', SearchAttributeType.KEYWORD);
export const CallbackStatus = defineSearchAttributeKey('CallbackStatus', SearchAttributeType.KEYWORD);
export const AssigneeId = defineSearchAttributeKey('AssigneeId', SearchAttributeType.KEYWORD);
export const NotificationEventType = defineSearchAttributeKey('NotificationEventType', SearchAttributeType.KEYWORD);
export const NotificationChannel = defineSearchAttributeKey('NotificationChannel', SearchAttributeType.KEYWORD);
export const NotificationStatus = defineSearchAttributeKey('NotificationStatus', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTES: SearchAttributeKey<SearchAttributeType>[] = [
  CompanyId,
  BranchId,
  CallbackPriority,
  CallbackStatus,
  AssigneeId,
  NotificationEventType,
  NotificationChannel,
  NotificationStatus,
];
