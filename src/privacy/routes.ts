import { IdParams } from '../api/fields';
import type { ApiRoutes } from '../api/route';
import { CustomerExport, ErasureResult } from './schemas';
import type { PrivacyService } from './service';

/** A customer's personal data: the export (a manager) and the erasure (an admin). */
export function privacyRoutes(routes: ApiRoutes, privacy: PrivacyService): void {
  routes
    .add({
      method: 'get',
      path: '/v1/customers/:id/export',
      summary: 'Everything held about a customer, as one JSON document (access and portability requests)',
      tags: ['privacy'],
      access: 'manager',
      params: IdParams,
      responses: { 200: { description: 'The export', schema: CustomerExport } },
      handler: async ({ auth, params }) => ({ status: 200, body: await privacy.exportCustomer(auth.companyId, params.id) }),
    })
    .add({
      method: 'post',
      path: '/v1/customers/:id/erase',
      // Idempotent. Ids, states, times and amounts stay, so analytics, quotas and fees stay correct. Temporal keeps the
      // histories of the customer's workflows until the namespace's retention period ends (docs/privacy.md, Export and erasure).
      summary: "Erase a customer's personal data: cancel their open workflows, then anonymise every table in one transaction (idempotent)",
      tags: ['privacy'],
      access: 'admin',
      params: IdParams,
      responses: { 200: { description: 'Erased (or already erased)', schema: ErasureResult } },
      handler: async ({ auth, params }) => ({
        status: 200,
        body: await privacy.eraseCustomer(auth.companyId, params.id, { keyId: auth.keyId, role: auth.role }),
      }),
    });
}
