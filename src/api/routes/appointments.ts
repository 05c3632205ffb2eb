import type { PoolClient } from 'pg';
import {
  findAppointment,
  insertAppointment,
  listAppointments,
  updateAppointment,
  type AppointmentRow,
} from '../../db/directory/appointments';
import { findBranch } from '../../db/directory/branches';
import { findCustomer } from '../../db/directory/customers';
import { findService } from '../../db/directory/services';
import { findStaff } from '../../db/directory/staff';
import { withTransaction } from '../../db/transaction';
import { ConflictError, NotFoundError, ValidationError, type FieldIssue } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { Appointment, AppointmentQuery, CreateAppointment, UpdateAppointment } from '../schemas/appointments';
import { ErrorResponse, IdParams } from '../schemas/common';
import { z } from '../zod';

export const appointmentJson = (a: AppointmentRow) => ({
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

const invalid = (issues: FieldIssue[]) => new ValidationError(`invalid request: ${issues.map((i) => i.field).join(', ')}`, issues);

/**
 * A staff member may serve an appointment only in their own branch. Locks the staff row
 * (FOR SHARE) so a concurrent move to another branch waits for this transaction. Another
 * company's id is not found (404), never a 400 that would confirm it exists.
 */
async function staffOfBranch(tx: PoolClient, companyId: string, staffId: string, branchId: string): Promise<FieldIssue | undefined> {
  const staff = await findStaff(tx, companyId, staffId, { forShare: true });
  if (!staff) throw new NotFoundError('staff member', staffId);
  return staff.branch_id === branchId
    ? undefined
    : { field: 'body.staffId', message: `staff member ${staffId} does not work at branch ${branchId}` };
}

/** Every referenced id exists in the caller's company (else 404), then service and staff belong to the branch (else 400). */
async function checkReferences(
  tx: PoolClient,
  companyId: string,
  ref: { customerId: string; branchId: string; serviceId: string; staffId?: string | null },
): Promise<void> {
  if (!(await findCustomer(tx, companyId, ref.customerId))) throw new NotFoundError('customer', ref.customerId);
  if (!(await findBranch(tx, companyId, ref.branchId))) throw new NotFoundError('branch', ref.branchId);
  const service = await findService(tx, companyId, ref.serviceId, { forShare: true });
  if (!service) throw new NotFoundError('service', ref.serviceId);
  const issues: FieldIssue[] = [];
  if (ref.staffId) {
    const issue = await staffOfBranch(tx, companyId, ref.staffId, ref.branchId);
    if (issue) issues.push(issue);
  }
  if (service.branch_id !== ref.branchId)
    issues.unshift({ field: 'body.serviceId', message: `service ${ref.serviceId} is not offered at branch ${ref.branchId}` });
  if (issues.length > 0) throw invalid(issues);
}

/** Appointments: customer, branch, service, optional staff member, times and status. Cancelling is a separate, policy-driven route. */
export function appointmentRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/appointments',
      summary: 'Book an appointment (service and staff member of the same branch)',
      tags: ['directory'],
      access: 'manager',
      body: CreateAppointment,
      responses: { 201: { description: 'Created', schema: Appointment } },
      handler: async ({ auth, body }) =>
        withTransaction(pool, async (tx) => {
          await checkReferences(tx, auth.companyId, body);
          return { status: 201, body: appointmentJson(await insertAppointment(tx, auth.companyId, body)) };
        }),
    })
    .add({
      method: 'get',
      path: '/v1/appointments',
      summary: 'List appointments by customer, branch, staff member and start time',
      tags: ['directory'],
      access: 'agent',
      query: AppointmentQuery,
      responses: { 200: { description: 'Appointments, by start time', schema: z.object({ items: z.array(Appointment) }) } },
      handler: async ({ auth, query }) => {
        // A filter naming an id the company does not have is a 404, as for any other id.
        if (query.customerId && !(await findCustomer(pool, auth.companyId, query.customerId)))
          throw new NotFoundError('customer', query.customerId);
        if (query.branchId && !(await findBranch(pool, auth.companyId, query.branchId))) throw new NotFoundError('branch', query.branchId);
        if (query.staffId && !(await findStaff(pool, auth.companyId, query.staffId)))
          throw new NotFoundError('staff member', query.staffId);
        return { status: 200, body: { items: (await listAppointments(pool, auth.companyId, query)).map(appointmentJson) } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/appointments/:id',
      summary: 'Read an appointment',
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The appointment', schema: Appointment } },
      handler: async ({ auth, params }) => {
        const appointment = await findAppointment(pool, auth.companyId, params.id);
        if (!appointment) throw new NotFoundError('appointment', params.id);
        return { status: 200, body: appointmentJson(appointment) };
      },
    })
    .add({
      method: 'patch',
      path: '/v1/appointments/:id',
      summary: 'Change an appointment’s times, staff member, status or notes (not a cancellation)',
      tags: ['directory'],
      access: 'manager',
      params: IdParams,
      body: UpdateAppointment,
      responses: {
        200: { description: 'The changed appointment', schema: Appointment },
        409: { description: 'The appointment is cancelled (code appointment_cancelled)', schema: ErrorResponse },
      },
      handler: async ({ auth, params, body }) =>
        withTransaction(pool, async (tx) => {
          const current = await findAppointment(tx, auth.companyId, params.id, { forUpdate: true });
          if (!current) throw new NotFoundError('appointment', params.id);
          if (current.status === 'cancelled') throw new ConflictError(`appointment ${params.id} is cancelled`, 'appointment_cancelled');
          const startsAt = body.startsAt ? new Date(body.startsAt) : current.starts_at;
          const endsAt = body.endsAt ? new Date(body.endsAt) : current.ends_at;
          const issues: FieldIssue[] = [];
          if (endsAt <= startsAt) {
            issues.push(
              body.endsAt
                ? { field: 'body.endsAt', message: `must be after startsAt (${startsAt.toISOString()})` }
                : { field: 'body.startsAt', message: `must be before endsAt (${endsAt.toISOString()})` },
            );
          }
          if (body.staffId) {
            const issue = await staffOfBranch(tx, auth.companyId, body.staffId, current.branch_id);
            if (issue) issues.push(issue);
          }
          if (issues.length > 0) throw invalid(issues);
          return { status: 200, body: appointmentJson((await updateAppointment(tx, auth.companyId, params.id, body))!) };
        }),
    });
}
