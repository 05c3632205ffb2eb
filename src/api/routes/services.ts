import { findBranch } from '../../db/directory/branches';
import { findService, insertService, listServices, updateService, type ServiceRow } from '../../db/directory/services';
import { NotFoundError } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { IdParams } from '../schemas/common';
import { CreateService, Service, ServiceQuery, UpdateService } from '../schemas/services';
import { z } from '../zod';

export const serviceJson = (s: ServiceRow) => ({
  id: s.id,
  branchId: s.branch_id,
  name: s.name,
  durationMinutes: s.duration_minutes,
  priceCents: s.price_cents,
  createdAt: s.created_at.toISOString(),
  updatedAt: s.updated_at.toISOString(),
});

export function serviceRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/services',
      summary: 'Create a service of a branch',
      tags: ['directory'],
      access: 'admin',
      body: CreateService,
      responses: { 201: { description: 'Created', schema: Service } },
      handler: async ({ auth, body }) => ({ status: 201, body: serviceJson(await insertService(pool, auth.companyId, body)) }),
    })
    .add({
      method: 'get',
      path: '/v1/services',
      summary: 'List services, optionally of one branch',
      tags: ['directory'],
      access: 'agent',
      query: ServiceQuery,
      responses: { 200: { description: 'Services', schema: z.object({ items: z.array(Service) }) } },
      handler: async ({ auth, query }) => {
        if (query.branchId && !(await findBranch(pool, auth.companyId, query.branchId))) throw new NotFoundError('branch', query.branchId);
        return { status: 200, body: { items: (await listServices(pool, auth.companyId, query)).map(serviceJson) } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/services/:id',
      summary: 'Read a service',
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The service', schema: Service } },
      handler: async ({ auth, params }) => {
        const service = await findService(pool, auth.companyId, params.id);
        if (!service) throw new NotFoundError('service', params.id);
        return { status: 200, body: serviceJson(service) };
      },
    })
    .add({
      method: 'patch',
      path: '/v1/services/:id',
      summary: 'Change a service',
      tags: ['directory'],
      access: 'admin',
      params: IdParams,
      body: UpdateService,
      responses: { 200: { description: 'The changed service', schema: Service } },
      handler: async ({ auth, params, body }) => {
        const service = await updateService(pool, auth.companyId, params.id, body);
        if (!service) throw new NotFoundError('service', params.id);
        return { status: 200, body: serviceJson(service) };
      },
    });
}
