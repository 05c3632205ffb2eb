import { insertApiKey, listApiKeys, revokeApiKey, type ApiKeyRow } from '../../db/api-keys';
import { findCompany, insertCompany, type CompanyRow } from '../../db/companies';
import { withTransaction } from '../../db/transaction';
import { NotFoundError } from '../../errors';
import type { RouteDeps } from '../app';
import type { ApiRoutes } from '../route';
import { IdParams } from '../schemas/common';
import { ApiKey, Company, CreateApiKey, CreateCompany, CreatedApiKey, CreatedCompany } from '../schemas/companies';
import { z } from '../zod';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const companyJson = (c: CompanyRow) => ({ id: c.id, name: c.name, timeZone: c.time_zone, createdAt: c.created_at.toISOString() });
const keyJson = (k: ApiKeyRow) => ({
  id: k.id,
  name: k.name,
  role: k.role,
  prefix: k.key_prefix,
  createdAt: k.created_at.toISOString(),
  lastUsedAt: iso(k.last_used_at),
  revokedAt: iso(k.revoked_at),
});

/** Companies (platform token) and their API keys (admin). */
export function companyRoutes(routes: ApiRoutes, { pool }: RouteDeps): void {
  routes
    .add({
      method: 'post',
      path: '/v1/companies',
      summary: 'Create a company and its first admin API key',
      tags: ['companies'],
      access: 'platform',
      body: CreateCompany,
      responses: { 201: { description: 'Created; the key is shown only here', schema: CreatedCompany } },
      handler: async ({ body }) =>
        withTransaction(pool, async (tx) => {
          const company = await insertCompany(tx, body);
          const { row, key } = await insertApiKey(tx, company.id, body.adminKeyName, 'admin');
          return { status: 201, body: { company: companyJson(company), apiKey: { ...keyJson(row), key } } };
        }),
    })
    .add({
      method: 'get',
      path: '/v1/company',
      summary: 'The company the API key belongs to',
      tags: ['companies'],
      access: 'agent',
      responses: { 200: { description: 'The company', schema: Company } },
      handler: async ({ auth }) => {
        const company = await findCompany(pool, auth.companyId);
        if (!company) throw new NotFoundError('company');
        return { status: 200, body: companyJson(company) };
      },
    })
    .add({
      method: 'post',
      path: '/v1/api-keys',
      summary: 'Create an API key for the caller’s company',
      tags: ['companies'],
      access: 'admin',
      body: CreateApiKey,
      responses: { 201: { description: 'Created; the key is shown only here', schema: CreatedApiKey } },
      handler: async ({ auth, body }) => {
        const { row, key } = await insertApiKey(pool, auth.companyId, body.name, body.role);
        return { status: 201, body: { ...keyJson(row), key } };
      },
    })
    .add({
      method: 'get',
      path: '/v1/api-keys',
      summary: 'List the company’s API keys (never the secrets)',
      tags: ['companies'],
      access: 'admin',
      responses: { 200: { description: 'Keys', schema: z.object({ items: z.array(ApiKey) }) } },
      handler: async ({ auth }) => ({ status: 200, body: { items: (await listApiKeys(pool, auth.companyId)).map(keyJson) } }),
    })
    .add({
      method: 'delete',
      path: '/v1/api-keys/:id',
      summary: 'Revoke an API key',
      tags: ['companies'],
      access: 'admin',
      params: IdParams,
      responses: { 204: { description: 'Revoked' } },
      handler: async ({ auth, params }) => {
        if (!(await revokeApiKey(pool, auth.companyId, params.id))) throw new NotFoundError('api key', params.id);
        return { status: 204 };
      },
    });
}
