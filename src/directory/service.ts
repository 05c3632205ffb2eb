import type { Pool, PoolClient } from 'pg';
import type { z } from 'zod';
import type { AppointmentSource } from '../appointments/definitions';
import { withTransaction, type Queryable } from '../db/transaction';
import { ConflictError, NotFoundError, ValidationError, type FieldIssue } from '../errors';
import { countryOfTimeZone, e164OrThrow, e164OrUndefined, phoneCountry } from './phone';
import type {
  AppointmentQuery,
  CreateAppointment,
  CreateBranch,
  CreateCustomer,
  CreateService,
  CreateStaff,
  CustomerQuery,
  ServiceQuery,
  StaffQuery,
  UpdateAppointment,
  UpdateBranch,
  UpdateCustomer,
  UpdateService,
  UpdateStaff,
} from './schemas';
import {
  findAppointment,
  findBranch,
  findCustomer,
  findService,
  findStaff,
  insertAppointment,
  insertBranch,
  insertCustomer,
  insertService,
  insertStaff,
  listAppointments,
  listBranches,
  listCustomers,
  listServices,
  listStaff,
  phoneCountries,
  replaceStaffServices,
  updateAppointment,
  updateBranch,
  updateCustomer,
  updateService,
  updateStaff,
  type AppointmentRow,
  type BranchRow,
  type CustomerRow,
  type ServiceRow,
  type StaffRow,
} from './store';

/**
 * The directory's use cases: transactions and reference rules (a service and staff member of the
 * appointment's branch, ids of the caller's company only). Inputs are already validated by the
 * route schemas; every method is scoped by the caller's company, and another company's id is
 * "not found" (404), never a 400 that would confirm it exists.
 */
type In<S extends z.ZodType> = z.output<S>;
type Page = { limit: number; offset: number };

export const branchView = (b: BranchRow) => ({
  id: b.id,
  name: b.name,
  timeZone: b.time_zone,
  country: b.country,
  phone: b.phone,
  email: b.email,
  openingHours: b.opening_hours,
  createdAt: b.created_at.toISOString(),
  updatedAt: b.updated_at.toISOString(),
});

export const serviceView = (s: ServiceRow) => ({
  id: s.id,
  branchId: s.branch_id,
  name: s.name,
  durationMinutes: s.duration_minutes,
  priceCents: s.price_cents,
  createdAt: s.created_at.toISOString(),
  updatedAt: s.updated_at.toISOString(),
});

export const staffView = (s: StaffRow) => ({
  id: s.id,
  branchId: s.branch_id,
  name: s.name,
  email: s.email,
  phone: s.phone,
  role: s.role,
  available: s.is_available,
  timeZone: s.time_zone,
  serviceIds: s.service_ids,
  createdAt: s.created_at.toISOString(),
  updatedAt: s.updated_at.toISOString(),
});

export const customerView = (c: CustomerRow) => ({
  id: c.id,
  name: c.name,
  email: c.email,
  phone: c.phone,
  timeZone: c.time_zone,
  homeBranchId: c.home_branch_id,
  preferredStaffId: c.preferred_staff_id,
  pushSubscription: c.push_subscription,
  createdAt: c.created_at.toISOString(),
  updatedAt: c.updated_at.toISOString(),
});

export const appointmentView = (a: AppointmentRow) => ({
  id: a.id,
  customerId: a.customer_id,
  branchId: a.branch_id,
  serviceId: a.service_id,
  staffId: a.staff_id,
  startsAt: a.starts_at.toISOString(),
  endsAt: a.ends_at.toISOString(),
  status: a.status,
  notes: a.notes,
  createdAt: a.created_at.toISOString(),
  updatedAt: a.updated_at.toISOString(),
});

/**
 * A number a sender sent (a Cal.com attendee's, a Retell caller's) in E.164, read in the branch's
 * country (else the company's); undefined when it cannot be read: a webhook is not refused for it.
 */
export async function senderPhone(
  db: Queryable,
  companyId: string,
  branchId: string | null,
  raw: string | null | undefined,
): Promise<string | undefined> {
  return raw ? (await phoneReader(db, companyId, branchId))(raw) : undefined;
}

/** `senderPhone` for several numbers of one sender: the country is looked up once. */
export async function phoneReader(
  db: Queryable,
  companyId: string,
  branchId: string | null,
): Promise<(raw: string | null | undefined) => string | undefined> {
  const country = phoneCountry(await phoneCountries(db, companyId, branchId));
  return (raw) => e164OrUndefined(raw, country);
}

const invalid = (issues: FieldIssue[]) => new ValidationError(`invalid request: ${issues.map((i) => i.field).join(', ')}`, issues);

function found<T>(row: T | undefined, resource: string, id: string): T {
  if (!row) throw new NotFoundError(resource, id);
  return row;
}

/**
 * A staff member may serve an appointment only in their own branch. Locks the staff row
 * (FOR SHARE) so a concurrent move to another branch waits for this transaction.
 */
async function staffOfBranch(tx: PoolClient, companyId: string, staffId: string, branchId: string): Promise<FieldIssue | undefined> {
  const staff = found(await findStaff(tx, companyId, staffId, { forShare: true }), 'staff member', staffId);
  return staff.branch_id === branchId
    ? undefined
    : { field: 'body.staffId', message: `staff member ${staffId} does not work at branch ${branchId}` };
}

/** Every referenced id exists in the caller's company (else 404), then service and staff belong to the branch (else 400). */
async function checkAppointmentReferences(
  tx: PoolClient,
  companyId: string,
  ref: { customerId: string; branchId: string; serviceId: string; staffId?: string | null },
): Promise<void> {
  found(await findCustomer(tx, companyId, ref.customerId), 'customer', ref.customerId);
  found(await findBranch(tx, companyId, ref.branchId), 'branch', ref.branchId);
  const service = found(await findService(tx, companyId, ref.serviceId, { forShare: true }), 'service', ref.serviceId);
  const issues: FieldIssue[] = [];
  if (service.branch_id !== ref.branchId)
    issues.push({ field: 'body.serviceId', message: `service ${ref.serviceId} is not offered at branch ${ref.branchId}` });
  if (ref.staffId) {
    const issue = await staffOfBranch(tx, companyId, ref.staffId, ref.branchId);
    if (issue) issues.push(issue);
  }
  if (issues.length > 0) throw invalid(issues);
}

/** Work a hook wants done once the transaction has committed (start or tell a workflow); it never throws for Temporal. */
export type AfterCommit = () => Promise<unknown>;

/** How a booking was made, for the hooks (the calendar's webhook books with its own source and records). */
export interface BookingOptions {
  /** Where the booking came from (default `api`). */
  source?: AppointmentSource;
  /** Runs inside the booking's transaction right after the row is written (e.g. the calendar's booking uid). */
  within?: (tx: PoolClient, appointment: AppointmentRow) => Promise<void>;
}

export interface DirectoryServiceDeps {
  pool: Pool;
  /** Called after a staff member of a branch became available (callbacks nobody could take try again). */
  onStaffAvailable?: (companyId: string, branchId: string) => Promise<unknown>;
  /**
   * Runs inside the booking's transaction, after the appointment row is written (the policy
   * feature keeps the policies that apply now as the appointment's terms; the appointment feature
   * claims the row for its workflow). A failure undoes the booking. What it returns runs after COMMIT.
   */
  onAppointmentBooked?: (
    tx: PoolClient,
    companyId: string,
    appointment: AppointmentRow,
    booking: BookingOptions,
  ) => Promise<void | AfterCommit>;
  /**
   * Runs inside the transaction of a PATCH, after the row is updated (the appointment's workflow is
   * told after COMMIT: reminders follow a corrected time). What it returns runs after COMMIT.
   */
  onAppointmentChanged?: (tx: PoolClient, companyId: string, appointment: AppointmentRow) => Promise<void | AfterCommit>;
}

export function createDirectoryService({ pool, onStaffAvailable, onAppointmentBooked, onAppointmentChanged }: DirectoryServiceDeps) {
  /** After the commit: a change that may let waiting callbacks be assigned. Best effort: they also retry on their own. */
  const availabilityChanged = async (staff: StaffRow, before?: StaffRow) => {
    if (!onStaffAvailable || !staff.is_available) return;
    if (before && before.is_available && before.branch_id === staff.branch_id) return;
    await onStaffAvailable(staff.company_id, staff.branch_id).catch(() => undefined);
  };

  /** A filter naming an id the company does not have is a 404, as for any other id. */
  async function assertFilters(companyId: string, filter: { branchId?: string; customerId?: string; staffId?: string }) {
    if (filter.customerId) found(await findCustomer(pool, companyId, filter.customerId), 'customer', filter.customerId);
    if (filter.branchId) found(await findBranch(pool, companyId, filter.branchId), 'branch', filter.branchId);
    if (filter.staffId) found(await findStaff(pool, companyId, filter.staffId), 'staff member', filter.staffId);
  }

  /**
   * `raw` in E.164, read in the country of `branchId` (else the company's), or a 400 naming
   * `field`; null and undefined (cleared, unchanged) pass through. `branchCountry` stands for a
   * branch that is being written (its own row does not say yet).
   */
  async function phoneIn<T extends string | null | undefined>(
    companyId: string,
    branchId: string | null,
    raw: T,
    field: string,
    branchCountry?: string | null,
  ): Promise<T | string> {
    if (raw === undefined || raw === null) return raw;
    const countries = await phoneCountries(pool, companyId, branchId);
    return e164OrThrow(raw, phoneCountry({ ...countries, ...(branchCountry !== undefined ? { branch: branchCountry } : {}) }), field);
  }

  return {
    // Branches. A branch's country defaults to its time zone's (none for UTC: the company's applies).
    createBranch: async (companyId: string, input: In<typeof CreateBranch>) => {
      const country = input.country !== undefined ? input.country : countryOfTimeZone(input.timeZone);
      const phone = await phoneIn(companyId, null, input.phone, 'body.phone', country);
      return branchView(await insertBranch(pool, companyId, { ...input, country, phone }));
    },
    listBranches: async (companyId: string, page: Page) => (await listBranches(pool, companyId, page)).map(branchView),
    getBranch: async (companyId: string, id: string) => branchView(found(await findBranch(pool, companyId, id), 'branch', id)),
    updateBranch: async (companyId: string, id: string, patch: In<typeof UpdateBranch>) => {
      if (patch.phone) {
        found(await findBranch(pool, companyId, id), 'branch', id);
        patch = { ...patch, phone: await phoneIn(companyId, id, patch.phone, 'body.phone', patch.country) };
      }
      return branchView(found(await updateBranch(pool, companyId, id, patch), 'branch', id));
    },

    // Services (a branch of another company fails the composite foreign key: 404)
    createService: async (companyId: string, input: In<typeof CreateService>) => serviceView(await insertService(pool, companyId, input)),
    listServices: async (companyId: string, query: In<typeof ServiceQuery>) => {
      await assertFilters(companyId, query);
      return (await listServices(pool, companyId, query)).map(serviceView);
    },
    getService: async (companyId: string, id: string) => serviceView(found(await findService(pool, companyId, id), 'service', id)),
    updateService: async (companyId: string, id: string, patch: In<typeof UpdateService>) =>
      serviceView(found(await updateService(pool, companyId, id, patch), 'service', id)),

    // Staff: the row and its qualified services change in one transaction.
    createStaff: async (companyId: string, input: In<typeof CreateStaff>) => {
      input = { ...input, phone: await phoneIn(companyId, input.branchId, input.phone, 'body.phone') };
      const staff = await withTransaction(pool, async (tx) => {
        const { serviceIds, ...fields } = input;
        const row = await insertStaff(tx, companyId, fields);
        row.service_ids = await replaceStaffServices(tx, companyId, row.id, serviceIds);
        return row;
      });
      await availabilityChanged(staff);
      return staffView(staff);
    },
    listStaff: async (companyId: string, query: In<typeof StaffQuery>) => {
      await assertFilters(companyId, query);
      return (await listStaff(pool, companyId, query)).map(staffView);
    },
    getStaff: async (companyId: string, id: string) => staffView(found(await findStaff(pool, companyId, id), 'staff member', id)),
    updateStaff: async (companyId: string, id: string, patch: In<typeof UpdateStaff>) => {
      if (patch.phone) {
        const current = found(await findStaff(pool, companyId, id), 'staff member', id);
        patch = { ...patch, phone: await phoneIn(companyId, patch.branchId ?? current.branch_id, patch.phone, 'body.phone') };
      }
      const { before, staff } = await withTransaction(pool, async (tx) => {
        const { serviceIds, ...fields } = patch;
        const before = await findStaff(tx, companyId, id, { forUpdate: true });
        const row = found(await updateStaff(tx, companyId, id, fields), 'staff member', id);
        if (serviceIds) row.service_ids = await replaceStaffServices(tx, companyId, row.id, serviceIds);
        return { before, staff: row };
      });
      await availabilityChanged(staff, before);
      return staffView(staff);
    },

    // Customers (a home branch or preferred staff member of another company fails the composite FK: 404)
    // A customer's number is read in the home branch's country, else the company's.
    createCustomer: async (companyId: string, input: In<typeof CreateCustomer>) => {
      const phone = await phoneIn(companyId, input.homeBranchId ?? null, input.phone, 'body.phone');
      return customerView(await insertCustomer(pool, companyId, { ...input, phone }));
    },
    /** By phone: the number is read as a customer's would be (the filter's branch, else the company), then compared in E.164. */
    listCustomers: async (companyId: string, query: In<typeof CustomerQuery>) => {
      await assertFilters(companyId, query);
      const phone = await phoneIn(companyId, query.branchId ?? null, query.phone, 'query.phone');
      return (await listCustomers(pool, companyId, { ...query, phone })).map(customerView);
    },
    getCustomer: async (companyId: string, id: string) => customerView(found(await findCustomer(pool, companyId, id), 'customer', id)),
    updateCustomer: async (companyId: string, id: string, patch: In<typeof UpdateCustomer>) => {
      if (patch.phone) {
        const current = found(await findCustomer(pool, companyId, id), 'customer', id);
        const branchId = patch.homeBranchId !== undefined ? patch.homeBranchId : current.home_branch_id;
        patch = { ...patch, phone: await phoneIn(companyId, branchId, patch.phone, 'body.phone') };
      }
      return customerView(found(await updateCustomer(pool, companyId, id, patch), 'customer', id));
    },

    // Appointments. Cancelling and rescheduling through the policy engine are not done here.
    createAppointment: async (companyId: string, input: In<typeof CreateAppointment>, booking: BookingOptions = {}) => {
      const { view, after } = await withTransaction(pool, async (tx) => {
        await checkAppointmentReferences(tx, companyId, input);
        const appointment = await insertAppointment(tx, companyId, input);
        await booking.within?.(tx, appointment);
        const after = await onAppointmentBooked?.(tx, companyId, appointment, booking);
        return { view: appointmentView(appointment), after };
      });
      // After COMMIT: the appointment's workflow starts (or the reconciler starts it).
      if (after) await after();
      return view;
    },
    listAppointments: async (companyId: string, query: In<typeof AppointmentQuery>) => {
      await assertFilters(companyId, query);
      return (await listAppointments(pool, companyId, query)).map(appointmentView);
    },
    getAppointment: async (companyId: string, id: string) =>
      appointmentView(found(await findAppointment(pool, companyId, id), 'appointment', id)),
    /**
     * An administrator's correction (times, staff, status, notes), outside the policy engine: no
     * decision, fee, quota or modification record (a customer's move is POST .../reschedule). The
     * appointment's workflow is told after COMMIT all the same, so its reminders follow the row.
     * `options.within` runs inside the transaction, after the row is updated.
     */
    updateAppointment: async (
      companyId: string,
      id: string,
      patch: In<typeof UpdateAppointment>,
      options: { within?: (tx: PoolClient, appointment: AppointmentRow) => Promise<void> } = {},
    ) => {
      const { view, after } = await withTransaction(pool, async (tx) => {
        const current = found(await findAppointment(tx, companyId, id, { forUpdate: true }), 'appointment', id);
        if (current.status === 'cancelled') throw new ConflictError(`appointment ${id} is cancelled`, 'appointment_cancelled');
        const startsAt = patch.startsAt ? new Date(patch.startsAt) : current.starts_at;
        const endsAt = patch.endsAt ? new Date(patch.endsAt) : current.ends_at;
        const issues: FieldIssue[] = [];
        if (endsAt <= startsAt) {
          issues.push(
            patch.endsAt
              ? { field: 'body.endsAt', message: `must be after startsAt (${startsAt.toISOString()})` }
              : { field: 'body.startsAt', message: `must be before endsAt (${endsAt.toISOString()})` },
          );
        }
        if (patch.staffId) {
          const issue = await staffOfBranch(tx, companyId, patch.staffId, current.branch_id);
          if (issue) issues.push(issue);
        }
        if (issues.length > 0) throw invalid(issues);
        const updated = (await updateAppointment(tx, companyId, id, patch))!;
        // E.g. the calendar's webhook records its delivery in the same transaction.
        await options.within?.(tx, updated);
        const after = await onAppointmentChanged?.(tx, companyId, updated);
        return { view: appointmentView(updated), after };
      });
      if (after) await after();
      return view;
    },
  };
}

export type DirectoryService = ReturnType<typeof createDirectoryService>;
