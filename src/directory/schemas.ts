import { BooleanQuery, DateTimeWithOffset, Email, Name, OutgoingUrl, Pagination, text, TimeZone, Uuid } from '../api/fields';
import { z } from '../api/zod';
import { validateBusinessHours } from '../callbacks/business-hours';
import { Country, PhoneE164, PhoneInput } from './phone';

/** Request and response schemas of the directory routes (validation and OpenAPI from one place). */

// ---- branches ----

const HHMM = z.string().regex(/^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/, { message: 'must be a local time HH:MM (24:00 ends the day)' });
const OpeningInterval = z.object({ start: HHMM, end: HHMM }).strict();

/** Local opening intervals per ISO weekday ('1' Monday .. '7' Sunday); a day left out is closed. */
export const OpeningHours = z
  .partialRecord(z.enum(['1', '2', '3', '4', '5', '6', '7']), z.array(OpeningInterval).max(8))
  .superRefine((weekly, ctx) => {
    // The pure rules name what is wrong (end before start, overlapping intervals).
    const result = validateBusinessHours({ timeZone: 'UTC', weekly });
    if (!result.ok)
      for (const issue of result.issues) ctx.addIssue({ code: 'custom', path: issue.path.split('.').slice(1), message: issue.message });
  })
  // A week with no opening at all would stop every SLA clock for good: null (no opening hours) says "always".
  .refine((weekly) => Object.values(weekly).some((day) => day && day.length > 0), {
    message: 'must open at least once a week; null means no opening hours (SLAs count every hour)',
    when: (payload) => payload.issues.length === 0,
  })
  .openapi('OpeningHours', {
    description: 'When set, callback SLAs count only open time in the branch time zone',
    example: { '1': [{ start: '09:00', end: '19:00' }], '6': [{ start: '10:00', end: '14:00' }] },
  });

const branchFields = {
  name: Name,
  timeZone: TimeZone,
  country: Country.nullish().openapi({
    description:
      "Where this branch's phone numbers without a country code are read (ISO 3166-1 alpha-2); null: the company's. Absent on creation: the time zone's country (none for UTC)",
  }),
  phone: PhoneInput.nullish(),
  email: z.email().nullish(),
  openingHours: OpeningHours.nullish(),
};

export const CreateBranch = z
  .object({ ...branchFields, timeZone: branchFields.timeZone.default('UTC') })
  .strict()
  .openapi('CreateBranch');

// Built from the fields without defaults: `.partial()` keeps a `.default()`, so a PATCH that
// omitted timeZone would have reset it to UTC.
export const UpdateBranch = z.object(branchFields).partial().strict().openapi('UpdateBranch');

export const BranchQuery = Pagination.strict();

export const Branch = z
  .object({
    id: Uuid,
    name: z.string(),
    timeZone: z.string(),
    country: z.string().nullable().openapi({ description: "null: the company's country applies" }),
    phone: PhoneE164.nullable(),
    email: z.string().nullable(),
    openingHours: z.record(z.string(), z.array(z.object({ start: z.string(), end: z.string() }))).nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Branch');

// ---- services ----

const serviceFields = {
  branchId: Uuid,
  name: Name,
  durationMinutes: z
    .number()
    .int()
    .min(1)
    .max(24 * 60),
  priceCents: z.number().int().min(0).max(100_000_000),
};

export const CreateService = z
  .object({
    ...serviceFields,
    durationMinutes: serviceFields.durationMinutes.default(30),
    priceCents: serviceFields.priceCents.default(0),
  })
  .strict()
  .openapi('CreateService');

// From the fields without defaults (as for branches): `.partial()` keeps a `.default()`.
export const UpdateService = z.object(serviceFields).partial().strict().openapi('UpdateService');

export const ServiceQuery = Pagination.extend({ branchId: Uuid.optional() }).strict();

export const Service = z
  .object({
    id: Uuid,
    branchId: Uuid,
    name: z.string(),
    durationMinutes: z.number().int(),
    priceCents: z.number().int(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Service');

// ---- staff ----

export const STAFF_ROLES = ['agent', 'manager'] as const;

const ServiceIds = z
  .array(Uuid)
  .max(200)
  .openapi({ description: 'The services this person is qualified for (any branch of the company); replaces the whole set on PATCH' });

const staffFields = {
  branchId: Uuid,
  name: Name,
  email: Email.nullable(),
  phone: PhoneInput.nullable(),
  role: z.enum(STAFF_ROLES),
  available: z.boolean(),
  timeZone: TimeZone,
  serviceIds: ServiceIds,
};

export const CreateStaff = z
  .object({
    ...staffFields,
    email: staffFields.email.optional(),
    phone: staffFields.phone.optional(),
    role: staffFields.role.default('agent'),
    available: staffFields.available.default(true),
    timeZone: staffFields.timeZone.default('UTC'),
    serviceIds: staffFields.serviceIds.default([]),
  })
  .strict()
  .openapi('CreateStaff');

export const UpdateStaff = z.object(staffFields).partial().strict().openapi('UpdateStaff');

export const StaffQuery = Pagination.extend({
  branchId: Uuid.optional(),
  role: z.enum(STAFF_ROLES).optional(),
  available: BooleanQuery.optional(),
}).strict();

export const Staff = z
  .object({
    id: Uuid,
    branchId: Uuid,
    name: z.string(),
    email: z.string().nullable(),
    phone: PhoneE164.nullable(),
    role: z.enum(STAFF_ROLES),
    available: z.boolean(),
    timeZone: z.string(),
    serviceIds: z.array(Uuid),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Staff');

// ---- customers ----

/** A browser's `PushSubscription.toJSON()`: where and how to send Web Push messages. */
export const PushSubscription = z
  .object({
    endpoint: OutgoingUrl,
    expirationTime: z.number().nullable().optional(),
    keys: z
      .object({
        p256dh: text(1, 200),
        auth: text(1, 100),
      })
      .strict(),
  })
  .strict()
  .openapi('PushSubscription');

const customerFields = {
  name: Name,
  email: Email.nullable(),
  phone: PhoneInput.nullable(),
  timeZone: TimeZone,
  homeBranchId: Uuid.nullable(),
  preferredStaffId: Uuid.nullable(),
  pushSubscription: PushSubscription.nullable(),
};

export const CreateCustomer = z
  .object({
    ...customerFields,
    email: customerFields.email.optional(),
    phone: customerFields.phone.optional(),
    timeZone: customerFields.timeZone.default('UTC'),
    homeBranchId: customerFields.homeBranchId.optional(),
    preferredStaffId: customerFields.preferredStaffId.optional(),
    pushSubscription: customerFields.pushSubscription.optional(),
  })
  .strict()
  .openapi('CreateCustomer');

export const UpdateCustomer = z.object(customerFields).partial().strict().openapi('UpdateCustomer');

export const CustomerQuery = Pagination.extend({
  branchId: Uuid.optional().openapi({ description: 'Home branch' }),
  phone: PhoneInput.optional().openapi({
    description: "The customer's number, read as on a customer (in the company's country unless it has +country code; encode `+` as %2B)",
  }),
}).strict();

export const Customer = z
  .object({
    id: Uuid,
    name: z.string(),
    email: z.string().nullable(),
    phone: PhoneE164.nullable(),
    timeZone: z.string(),
    homeBranchId: Uuid.nullable(),
    preferredStaffId: Uuid.nullable(),
    pushSubscription: PushSubscription.nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Customer');

// ---- appointments ----

export const APPOINTMENT_STATUSES = ['scheduled', 'confirmed', 'cancelled', 'completed', 'no_show'] as const;
/** Cancelling goes through the policy engine (POST /v1/appointments/:id/cancel), never through POST or PATCH. */
export const WRITABLE_STATUSES = ['scheduled', 'confirmed', 'completed', 'no_show'] as const;

const WritableStatus = z.enum(WRITABLE_STATUSES, {
  error: `must be one of ${WRITABLE_STATUSES.join(', ')}; cancel through POST /v1/appointments/:id/cancel`,
});

const Notes = text(0, 2000);

export const CreateAppointment = z
  .object({
    customerId: Uuid,
    branchId: Uuid,
    serviceId: Uuid.openapi({ description: 'A service of the same branch' }),
    staffId: Uuid.nullable().optional().openapi({ description: 'A staff member of the same branch' }),
    startsAt: DateTimeWithOffset,
    endsAt: DateTimeWithOffset.openapi({ description: 'After startsAt' }),
    status: WritableStatus.default('scheduled'),
    notes: Notes.nullable().optional(),
  })
  .strict()
  .refine((a) => Date.parse(a.endsAt) > Date.parse(a.startsAt), { path: ['endsAt'], message: 'must be after startsAt' })
  .openapi('CreateAppointment');

/** Times, staff, status and notes; customer, branch and service are fixed once booked. */
export const UpdateAppointment = z
  .object({
    startsAt: DateTimeWithOffset,
    endsAt: DateTimeWithOffset,
    staffId: Uuid.nullable(),
    status: WritableStatus,
    notes: Notes.nullable(),
  })
  .partial()
  .strict()
  .openapi('UpdateAppointment');

export const AppointmentQuery = Pagination.extend({
  customerId: Uuid.optional(),
  branchId: Uuid.optional(),
  staffId: Uuid.optional(),
  from: DateTimeWithOffset.optional().openapi({ description: 'Appointments starting at or after this instant' }),
  to: DateTimeWithOffset.optional().openapi({ description: 'Appointments starting before this instant' }),
})
  .strict()
  .refine((q) => !q.from || !q.to || Date.parse(q.to) > Date.parse(q.from), { path: ['to'], message: 'must be after from' });

export const Appointment = z
  .object({
    id: Uuid,
    customerId: Uuid,
    branchId: Uuid,
    serviceId: Uuid,
    staffId: Uuid.nullable(),
    startsAt: z.iso.datetime(),
    endsAt: z.iso.datetime(),
    status: z.enum(APPOINTMENT_STATUSES),
    notes: z.string().nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .openapi('Appointment');
