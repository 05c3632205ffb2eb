import { DateTimeWithOffset, text, Uuid } from '../api/fields';
import { z } from '../api/zod';
import { PhoneInput } from '../directory/phone';
import { ASSIGNMENT_REASONS, ATTEMPT_OUTCOMES, CALLBACK_STATUSES, ESCALATION_REASONS, PRIORITIES } from './definitions';

/** Request and response schemas of the callback routes (validation and OpenAPI from one place). */

const Seconds = (max: number) => z.number().int().min(1).max(max);
const DAY = 86_400;

export const CreateCallback = z
  .object({
    branchId: Uuid,
    customerId: Uuid.nullish().openapi({ description: 'A customer of the company; name and phone default to theirs' }),
    serviceId: Uuid.nullish().openapi({ description: 'What the callback is about: staff qualified for it are preferred' }),
    staffId: Uuid.nullish().openapi({ description: 'The preferred staff member (assigned if available and of the branch)' }),
    assignTo: Uuid.nullish().openapi({ description: 'Assign to this staff member (manager keys only): available and of the branch' }),
    phoneNumber: PhoneInput.optional().openapi({
      description:
        "The number to call, read in the branch's country (else the company's) unless it has +country code, stored in E.164; required without customerId",
    }),
    customerName: text(1, 200).optional().openapi({ description: 'Required without customerId' }),
    priority: z.enum(PRIORITIES).default('normal'),
    notes: text(0, 2000).nullish(),
    metadata: z
      .record(z.string(), z.unknown())
      .default({})
      .refine((d) => JSON.stringify(d).length <= 8_192, { message: 'must serialise to at most 8 KiB' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.customerId && !c.phoneNumber) ctx.addIssue({ code: 'custom', path: ['phoneNumber'], message: 'required without customerId' });
    if (!c.customerId && !c.customerName) ctx.addIssue({ code: 'custom', path: ['customerName'], message: 'required without customerId' });
  })
  .openapi('CreateCallback');
export type CreateCallback = z.output<typeof CreateCallback>;

export const CallbackQuery = z
  .object({
    branchId: Uuid.optional(),
    status: z.enum(CALLBACK_STATUSES).optional(),
    priority: z.enum(PRIORITIES).optional(),
    assignedTo: Uuid.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,200}$/, { message: 'must be a cursor returned as nextCursor' })
      .optional()
      .openapi({ description: 'nextCursor of the previous page' }),
  })
  .strict();
export type CallbackQuery = z.output<typeof CallbackQuery>;

export const RecordAttemptBody = z
  .object({ outcome: z.enum(ATTEMPT_OUTCOMES), notes: text(0, 2000).nullish() })
  .strict()
  .openapi('RecordAttempt');
export const CompleteBody = z
  .object({ notes: text(0, 2000).nullish() })
  .strict()
  .openapi('CompleteCallback');
export const ReassignBody = z
  .object({ staffId: Uuid.nullish().openapi({ description: 'A staff member of the branch; absent: the assignment rules choose' }) })
  .strict()
  .openapi('ReassignCallback');
export const CancelBody = z
  .object({ reason: text(1, 500).nullish() })
  .strict()
  .openapi('CancelCallback');
export const EscalateBody = z
  .object({ notes: text(0, 2000).nullish() })
  .strict()
  .openapi('EscalateCallback');

/** A company's (branchId absent or null) or a branch's callback settings; a setting left out or null inherits. */
export const CallbackSettingsInput = z
  .object({
    branchId: Uuid.nullish(),
    slaSeconds: z
      .object({ urgent: Seconds(30 * DAY).nullish(), high: Seconds(30 * DAY).nullish(), normal: Seconds(30 * DAY).nullish() })
      .strict()
      .default({}),
    cooldownSeconds: Seconds(30 * DAY).nullish(),
    attemptsBeforeEscalation: z.number().int().min(1).max(100).nullish(),
    warningPercent: z.number().int().min(1).max(99).nullish(),
    maxOpenSeconds: Seconds(365 * DAY).nullish(),
    assignmentRetrySeconds: Seconds(DAY).nullish(),
  })
  .strict()
  .openapi('CallbackSettingsInput');
export type CallbackSettingsInput = z.output<typeof CallbackSettingsInput>;

export const SettingsQuery = z.object({ branchId: Uuid.optional() }).strict();

const Settings = z.object({
  sla: z.object({ urgent: z.number().int(), high: z.number().int(), normal: z.number().int() }),
  cooldownSeconds: z.number().int(),
  attemptsBeforeEscalation: z.number().int(),
  warningPercent: z.number().int(),
  maxOpenSeconds: z.number().int(),
  assignmentRetrySeconds: z.number().int(),
});

export const CallbackSettingsView = z
  .object({
    branchId: Uuid.nullable(),
    /** The settings a callback created now would take (branch > company > defaults). */
    effective: Settings,
    /** For each setting, the level it comes from. */
    provenance: z.record(z.string(), z.enum(['branch', 'company', 'default'])),
    /** For each setting, the level and the settings row it comes from (settingsId null: the system default). */
    sources: z.record(z.string(), z.object({ level: z.enum(['branch', 'company', 'default']), settingsId: Uuid.nullable() })),
  })
  .openapi('CallbackSettings');

const Iso = z.iso.datetime();

export const CallbackLiveView = z.object({
  status: z.enum(CALLBACK_STATUSES),
  assignedTo: Uuid.nullable(),
  breached: z.boolean(),
  warned: z.boolean(),
  failedAttemptsSinceEscalation: z.number().int(),
  nextEscalationAt: Iso.nullable(),
  run: z.number().int(),
});

export const CallbackView = z
  .object({
    id: Uuid,
    branchId: Uuid,
    customerId: Uuid.nullable(),
    serviceId: Uuid.nullable(),
    preferredStaffId: Uuid.nullable(),
    phoneNumber: z.string(),
    customerName: z.string(),
    priority: z.enum(PRIORITIES),
    status: z.enum(CALLBACK_STATUSES).openapi({
      description:
        '`failed`: its run could not go on (a step gave up after its retries, a bug, a run ended from outside); statusReason says why',
    }),
    statusReason: z.string().nullable(),
    assignTo: Uuid.nullable().openapi({ description: 'The staff member a manager named at creation (assignTo)' }),
    assignedTo: Uuid.nullable(),
    assignedAt: Iso.nullable(),
    assignmentReason: z.enum(ASSIGNMENT_REASONS).nullable(),
    dueAt: Iso.openapi({ description: 'The SLA deadline (expires_at), fixed at creation' }),
    /** The deadline in the customer's time zone (else the branch's), as they would read it. */
    dueAtLocal: z.string(),
    timeZone: z.string(),
    warnAt: Iso.nullable(),
    openUntil: Iso.nullable(),
    breachedAt: Iso.nullable(),
    contactedAt: Iso.nullable(),
    completedAt: Iso.nullable(),
    cancelledAt: Iso.nullable(),
    expiredAt: Iso.nullable(),
    failedAt: Iso.nullable(),
    escalated: z.boolean(),
    escalationCount: z.number().int(),
    attemptCount: z.number().int(),
    notes: z.string().nullable().openapi({ description: 'The request’s own notes' }),
    outcomeNotes: z.string().nullable().openapi({ description: 'The notes given when it was completed' }),
    metadata: z.record(z.string(), z.unknown()),
    settings: Settings.nullable().openapi({ description: 'The settings snapshot taken at creation' }),
    workflowId: z.string(),
    createdAt: Iso,
    updatedAt: Iso,
  })
  .openapi('Callback');
export type CallbackView = z.infer<typeof CallbackView>;

export const CallbackDetail = CallbackView.extend({
  attempts: z.array(
    z.object({ id: Uuid, staffId: Uuid.nullable(), outcome: z.enum(ATTEMPT_OUTCOMES), notes: z.string().nullable(), attemptedAt: Iso }),
  ),
  escalations: z.array(
    z.object({
      id: Uuid,
      reason: z.enum(ESCALATION_REASONS),
      escalatedFrom: Uuid.nullable(),
      escalatedTo: Uuid.nullable(),
      escalatedAt: Iso,
      resolvedAt: Iso.nullable(),
      notes: z.string().nullable(),
      notificationId: Uuid.nullable(),
    }),
  ),
  /** The running workflow's own view (null once it has finished or when it cannot be reached). */
  live: CallbackLiveView.nullable(),
}).openapi('CallbackDetail');
export type CallbackDetail = z.infer<typeof CallbackDetail>;

export const CreatedCallback = z.object({ created: z.boolean(), callback: CallbackView }).openapi('CreatedCallback');

export const CallbackPage = z.object({ items: z.array(CallbackView), nextCursor: z.string().nullable() });

export const OverdueList = z.object({
  items: z.array(CallbackView.extend({ overdueHours: z.number().openapi({ description: '0 when not overdue' }) })),
});

export const OpenEscalationList = z
  .object({
    items: z.array(
      z.object({
        escalation: z.object({
          id: Uuid,
          reason: z.enum(ESCALATION_REASONS),
          escalatedFrom: Uuid.nullable(),
          escalatedTo: Uuid.nullable().openapi({ description: 'The manager it was escalated to (null: none was available)' }),
          escalatedAt: Iso,
          notes: z.string().nullable(),
          notificationId: Uuid.nullable().openapi({ description: 'The callback_escalated notification' }),
        }),
        callback: CallbackView,
      }),
    ),
  })
  .openapi('OpenEscalations');

export const AnalyticsQuery = z
  .object({
    from: DateTimeWithOffset.transform((v) => new Date(v)).optional(),
    to: DateTimeWithOffset.transform((v) => new Date(v)).optional(),
  })
  .strict()
  .refine((q) => !q.from || !q.to || q.from < q.to, { message: 'must be before to', path: ['from'] });

export const CallbackAnalytics = z.object({
  from: Iso,
  to: Iso,
  rows: z.array(
    z.object({
      branchId: Uuid,
      priority: z.enum(PRIORITIES),
      count: z.number().int(),
      breached: z.number().int(),
      breachRate: z.number(),
      medianSecondsToFirstContact: z.number().nullable(),
      medianSecondsToCompletion: z.number().nullable(),
      escalationsByReason: z.record(z.string(), z.number().int()),
    }),
  ),
});
