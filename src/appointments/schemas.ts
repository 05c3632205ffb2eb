import { z } from '../api/zod';
import { APPOINTMENT_SOURCES, MESSAGE_KINDS } from './definitions';

/** Request and response schemas of the appointment workflow routes (validation and OpenAPI from one place). */

export const AppointmentSettingsInput = z
  .object({
    sendCreated: z.boolean().default(true).openapi({ description: 'appointment_created when an appointment is booked' }),
    sendConfirmed: z.boolean().default(true).openapi({ description: 'appointment_confirmed when it is booked or becomes confirmed' }),
    reminder24h: z.boolean().default(true).openapi({ description: 'appointment_reminder_24h, 24 h before the start' }),
    reminder2h: z.boolean().default(true).openapi({ description: 'appointment_reminder_2h, 2 h before the start' }),
    feedbackRequest: z.boolean().default(true).openapi({ description: 'customer_feedback_request after the end' }),
    feedbackDelayMinutes: z
      .number()
      .int()
      .min(0)
      .max(10_080)
      .default(60)
      .openapi({ description: 'How long after the end the feedback request goes out (0-10080 minutes)' }),
  })
  .strict()
  .openapi('AppointmentSettingsInput');
export type AppointmentSettingsInput = z.output<typeof AppointmentSettingsInput>;

export const AppointmentSettingsView = z
  .object({
    sendCreated: z.boolean(),
    sendConfirmed: z.boolean(),
    reminder24h: z.boolean(),
    reminder2h: z.boolean(),
    feedbackRequest: z.boolean(),
    feedbackDelayMinutes: z.number().int(),
    updatedAt: z.iso.datetime().nullable().openapi({ description: 'null: never set (the defaults apply)' }),
  })
  .openapi('AppointmentSettings');
export type AppointmentSettingsView = z.infer<typeof AppointmentSettingsView>;

export const AppointmentScheduleView = z
  .object({
    appointmentId: z.uuid(),
    workflowId: z.string().nullable().openapi({ description: 'null: an appointment written before the workflows, already over' }),
    workflowStartedAt: z.iso.datetime().nullable(),
    workflowFinishedAt: z.iso.datetime().nullable(),
    workflowOutcome: z.string().nullable(),
    revision: z.number().int().openapi({ description: 'Changes of times, status or staff so far, plus one' }),
    workflowRevision: z.number().int().nullable().openapi({ description: 'The newest revision the workflow has been told of' }),
    source: z.enum(APPOINTMENT_SOURCES),
    messages: z.array(
      z.object({
        kind: z.enum(MESSAGE_KINDS),
        key: z.string(),
        status: z.enum(['sent', 'skipped', 'failed']).openapi({
          description:
            'sent: a notification was queued; skipped: decided not to send (reason); failed: its step gave up (infrastructure unavailable beyond the retry budget)',
        }),
        reason: z.string().nullable(),
        forStartsAt: z.iso.datetime(),
        dueAt: z.iso.datetime(),
        notificationId: z.uuid().nullable(),
        notificationStatus: z
          .string()
          .nullable()
          .openapi({ description: "The queued notification's status (e.g. suppressed when its moment passed in quiet hours)" }),
        notificationReason: z.string().nullable(),
        decidedAt: z.iso.datetime().openapi({ description: 'The clock of the send when the step decided (or gave up)' }),
      }),
    ),
    stalled: z
      .object({ step: z.string(), since: z.iso.datetime(), error: z.string() })
      .nullable()
      .openapi({ description: 'The running workflow waits out an outage: the step that spent its retry budget and is tried again' }),
    planned: z
      .array(z.object({ kind: z.enum(MESSAGE_KINDS), key: z.string(), dueAt: z.iso.datetime(), forStartsAt: z.iso.datetime() }))
      .nullable()
      .openapi({ description: 'What the running workflow will send next (null: not running, or it did not answer in time)' }),
  })
  .openapi('AppointmentSchedule');
export type AppointmentScheduleView = z.infer<typeof AppointmentScheduleView>;
