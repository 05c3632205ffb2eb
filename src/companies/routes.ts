import { IdParams } from '../api/fields';
import type { ApiRoutes } from '../api/route';
import { z } from '../api/zod';
import {
  ApiKey,
  Company,
  CompanyFeatures,
  CreateApiKey,
  CreateCompany,
  CreatedApiKey,
  CreatedCompany,
  UpdateCompany,
  UpdateCompanyFeatures,
} from './schemas';
import type { CompanyService } from './service';

/** Companies (platform token), their API keys (admin) and their feature switches. */
export function companyRoutes(routes: ApiRoutes, companies: CompanyService): void {
  routes
    .add({
      method: 'post',
      path: '/v1/companies',
      summary: 'Create a company and its first admin API key',
      tags: ['companies'],
      access: 'platform',
      body: CreateCompany,
      responses: { 201: { description: 'Created; the key is shown only here', schema: CreatedCompany } },
      handler: async ({ body }) => ({ status: 201, body: await companies.createCompany(body) }),
    })
    .add({
      method: 'get',
      path: '/v1/company',
      summary: 'The company the API key belongs to',
      tags: ['companies'],
      access: 'agent',
      responses: { 200: { description: 'The company', schema: Company } },
      handler: async ({ auth }) => ({ status: 200, body: await companies.getCompany(auth.companyId) }),
    })
    .add({
      method: 'patch',
      path: '/v1/company',
      summary: 'Change the company’s country (where phone numbers without a country code are read)',
      tags: ['companies'],
      access: 'admin',
      body: UpdateCompany,
      responses: { 200: { description: 'The company', schema: Company } },
      handler: async ({ auth, body }) => ({ status: 200, body: await companies.updateCompany(auth.companyId, body) }),
    })
    .add({
      method: 'get',
      path: '/v1/company/features',
      summary: 'The company’s feature switches: policies, callbacks, notifications',
      tags: ['companies'],
      access: 'manager',
      responses: { 200: { description: 'Each feature: on or off, the company’s own setting, the default', schema: CompanyFeatures } },
      handler: async ({ auth }) => ({ status: 200, body: await companies.getFeatures(auth.companyId) }),
    })
    .add({
      method: 'put',
      path: '/v1/company/features',
      summary: 'Switch the policy, callback or notification system on or off for the company',
      tags: ['companies'],
      access: 'admin',
      body: UpdateCompanyFeatures,
      responses: {
        200: {
          description:
            'The switches after the change. Off: that feature’s routes that start new work answer 409 `feature_disabled` and start nothing; work already running goes on',
          schema: CompanyFeatures,
        },
      },
      handler: async ({ auth, body }) => ({ status: 200, body: await companies.setFeatures(auth.companyId, body, auth) }),
    })
    .add({
      method: 'get',
      path: '/v1/api-key',
      summary: 'The API key this request is made with: its role and the staff member it belongs to (never the secret)',
      tags: ['companies'],
      access: 'agent',
      responses: { 200: { description: 'The caller’s key', schema: ApiKey } },
      handler: async ({ auth }) => ({ status: 200, body: await companies.getApiKey(auth.companyId, auth.keyId) }),
    })
    .add({
      method: 'post',
      path: '/v1/api-keys',
      summary: 'Create an API key for the caller’s company',
      tags: ['companies'],
      access: 'admin',
      body: CreateApiKey,
      responses: { 201: { description: 'Created; the key is shown only here', schema: CreatedApiKey } },
      handler: async ({ auth, body }) => ({ status: 201, body: await companies.createApiKey(auth.companyId, body) }),
    })
    .add({
      method: 'get',
      path: '/v1/api-keys',
      summary: 'List the company’s API keys (never the secrets)',
      tags: ['companies'],
      access: 'admin',
      responses: { 200: { description: 'Keys', schema: z.object({ items: z.array(ApiKey) }) } },
      handler: async ({ auth }) => ({ status: 200, body: { items: await companies.listApiKeys(auth.companyId) } }),
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
        await companies.revokeApiKey(auth.companyId, params.id);
        return { status: 204 };
      },
    });
}
