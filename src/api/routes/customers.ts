import { findBranch } from '../../db/directory/branches';
import { findCustomer, insertCustomer, listCustomers, updateCustomer, type CustomerRow } from '../../db/directory/customers';
import { NotFoundError } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { IdParams } from '../schemas/common';
import { CreateCustomer, Customer, CustomerQuery, UpdateCustomer } from '../schemas/customers';
import { z } from '../zod';

export const customerJson = (c: CustomerRow) => ({
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

export function customerRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/customers',
      summary: 'Create a customer',
      tags: ['directory'],
      access: 'admin',
      body: CreateCustomer,
      responses: { 201: { description: 'Created', schema: Customer } },
      handler: async ({ auth, body }) => ({ status: 201, body: customerJson(await insertCustomer(pool, auth.companyId, body)) }),
    })
    .add({
      method: 'get',
      path: '/v1/customers',
      summary: 'List customers, by home branch or phone number',
      tags: ['directory'],
      access: 'agent',
      query: CustomerQuery,
      responses: { 200: { description: 'Customers', schema: z.object({ items: z.array(Customer) }) } },
      handler: async ({ auth, query }) => {
        if (query.branchId && !(await findBranch(pool, auth.companyId, query.branchId))) throw new NotFoundError('branch', query.branchId);
        return { status: 200, body: { items: (await listCustomers(pool, auth.companyId, query)).map(customerJson) } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/customers/:id',
      summary: 'Read a customer',
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The customer', schema: Customer } },
      handler: async ({ auth, params }) => {
        const customer = await findCustomer(pool, auth.companyId, params.id);
        if (!customer) throw new NotFoundError('customer', params.id);
        return { status: 200, body: customerJson(customer) };
      },
    })
    .add({
      method: 'patch',
      path: '/v1/customers/:id',
      summary: 'Change a customer (null clears an optional field)',
      tags: ['directory'],
      access: 'admin',
      params: IdParams,
      body: UpdateCustomer,
      responses: { 200: { description: 'The changed customer', schema: Customer } },
      handler: async ({ auth, params, body }) => {
        const customer = await updateCustomer(pool, auth.companyId, params.id, body);
        if (!customer) throw new NotFoundError('customer', params.id);
        return { status: 200, body: customerJson(customer) };
      },
    });
}
