import { findBranch } from '../../db/directory/branches';
import { findStaff, insertStaff, listStaff, replaceStaffServices, updateStaff, type StaffRow } from '../../db/directory/staff';
import { withTransaction } from '../../db/transaction';
import { NotFoundError } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { IdParams } from '../schemas/common';
import { CreateStaff, Staff, StaffQuery, UpdateStaff } from '../schemas/staff';
import { z } from '../zod';

export const staffJson = (s: StaffRow) => ({
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

/** Staff members and the services they are qualified for: the row and its services change in one transaction. */
export function staffRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/staff',
      summary: 'Create a staff member and the services they are qualified for',
      tags: ['directory'],
      access: 'admin',
      body: CreateStaff,
      responses: { 201: { description: 'Created', schema: Staff } },
      handler: async ({ auth, body }) =>
        withTransaction(pool, async (tx) => {
          const { serviceIds, ...fields } = body;
          const staff = await insertStaff(tx, auth.companyId, fields);
          staff.service_ids = await replaceStaffServices(tx, auth.companyId, staff.id, serviceIds);
          return { status: 201, body: staffJson(staff) };
        }),
    })
    .add({
      method: 'get',
      path: '/v1/staff',
      summary: 'List staff members by branch, role and availability',
      tags: ['directory'],
      access: 'agent',
      query: StaffQuery,
      responses: { 200: { description: 'Staff members', schema: z.object({ items: z.array(Staff) }) } },
      handler: async ({ auth, query }) => {
        if (query.branchId && !(await findBranch(pool, auth.companyId, query.branchId))) throw new NotFoundError('branch', query.branchId);
        return { status: 200, body: { items: (await listStaff(pool, auth.companyId, query)).map(staffJson) } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/staff/:id',
      summary: 'Read a staff member',
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The staff member', schema: Staff } },
      handler: async ({ auth, params }) => {
        const staff = await findStaff(pool, auth.companyId, params.id);
        if (!staff) throw new NotFoundError('staff member', params.id);
        return { status: 200, body: staffJson(staff) };
      },
    })
    .add({
      method: 'patch',
      path: '/v1/staff/:id',
      summary: 'Change a staff member; serviceIds, when given, replaces the whole set',
      tags: ['directory'],
      access: 'admin',
      params: IdParams,
      body: UpdateStaff,
      responses: { 200: { description: 'The changed staff member', schema: Staff } },
      handler: async ({ auth, params, body }) =>
        withTransaction(pool, async (tx) => {
          const { serviceIds, ...fields } = body;
          const staff = await updateStaff(tx, auth.companyId, params.id, fields);
          if (!staff) throw new NotFoundError('staff member', params.id);
          if (serviceIds) staff.service_ids = await replaceStaffServices(tx, auth.companyId, staff.id, serviceIds);
          return { status: 200, body: staffJson(staff) };
        }),
    });
}
