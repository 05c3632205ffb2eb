import SwaggerParser from '@apidevtools/swagger-parser';
import { startTestApi, type TestApi } from '../support/api';

/** The published OpenAPI document is a valid OpenAPI 3.1 document and covers every route of the API contract (docs/design.md) we serve. */
describe('GET /openapi.json', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi();
  });
  afterAll(() => api.close());

  it('validates as OpenAPI 3.1 and documents the v1 routes with their security', async () => {
    const doc = (await api.request('GET', '/openapi.json')).body;
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeDefined();
    const paths = Object.keys(doc.paths);
    for (const route of [
      '/v1/companies',
      '/v1/api-keys',
      '/v1/branches/{id}',
      '/v1/services/{id}',
      '/v1/staff/{id}',
      '/v1/customers/{id}',
      '/v1/appointments/{id}',
      '/v1/notification-configs',
      '/v1/notifications',
      '/v1/notifications/{id}',
      '/v1/notification-events',
      '/v1/analytics/notifications',
      '/health/ready',
      '/metrics',
    ]) {
      expect(paths).toContain(route);
    }
    expect(doc.paths['/v1/notifications'].post.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.paths['/v1/notifications'].post.responses['400'].content['application/json'].schema.$ref).toBe('#/components/schemas/Error');
  });
});
