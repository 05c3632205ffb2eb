import { findBranch, insertBranch, listBranches, updateBranch, type BranchRow } from '../../db/directory/branches';
import { NotFoundError } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { Branch, CreateBranch, UpdateBranch } from '../schemas/branches';
import { IdParams, Pagination } from '../schemas/common';
import { z } from '../zod';

export const branchJson = (b: BranchRow) => ({
  id: b.id,
  name: b.name,
  timeZone: b.time_zone,
  phone: b.phone,
  email: b.email,
  createdAt: b.created_at.toISOString(),
  updatedAt: b.updated_at.toISOString(),
});

export function branchRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/branches',
      summary: 'Create a branch',
      tags: ['directory'],
      access: 'admin',
      body: CreateBranch,
      responses: { 201: { description: 'Created', schema: Branch } },
      handler: async ({ auth, body }) => ({ status: 201, body: branchJson(await insertBranch(pool, auth.companyId, body)) }),
    })
    .add({
      method: 'get',
      path: '/v1/branches',
      summary: 'List branches',
      tags: ['directory'],
      access: 'agent',
      query: Pagination,
      responses: { 200: { description: 'Branches', schema: z.object({ items: z.array(Branch) }) } },
      handler: async ({ auth, query }) => ({
        status: 200,
        body: { items: (await listBranches(pool, auth.companyId, query)).map(branchJson) },
      }),
    })
    .add({
      method: 'get',
      path: '/v1/branches/:id',
      summary: 'Read a branch',
      tags: ['directory'],
      access: 'agent',
      params: IdParams,
      responses: { 200: { description: 'The branch', schema: Branch } },
      handler: async ({ auth, params }) => {
        const branch = await findBranch(pool, auth.companyId, params.id);
        if (!branch) throw new NotFoundError('branch', params.id);
        return { status: 200, body: branchJson(branch) };
      },
    })
    .add({
      method: 'patch',
      path: '/v1/branches/:id',
      summary: 'Change a branch',
      tags: ['directory'],
      access: 'admin',
      params: IdParams,
      body: UpdateBranch,
      responses: { 200: { description: 'The changed branch', schema: Branch } },
      handler: async ({ auth, params, body }) => {
        const branch = await updateBranch(pool, auth.companyId, params.id, body);
        if (!branch) throw new NotFoundError('branch', params.id);
        return { status: 200, body: branchJson(branch) };
      },
    });
}
