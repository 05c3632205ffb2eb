import type { DeploymentReport } from '../deployment/readiness';
import type { Metrics } from './metrics';
import type { ApiRoutes } from './route';
import { z } from './zod';

export type ReadinessCheck = () => Promise<DeploymentReport>;

const Liveness = z.object({ status: z.literal('ok') }).openapi('Liveness');
const Readiness = z
  .object({ ok: z.boolean(), problems: z.array(z.string()) })
  .passthrough()
  .openapi('Readiness');

/** Liveness, readiness and metrics: public, no API key. */
export function healthRoutes(routes: ApiRoutes, deps: { readiness: ReadinessCheck; metrics: Metrics }): void {
  routes
    .add({
      method: 'get',
      path: '/health',
      summary: 'Liveness: the process serves HTTP',
      tags: ['health'],
      access: 'public',
      responses: { 200: { description: 'Alive', schema: Liveness } },
      handler: async () => ({ status: 200, body: { status: 'ok' } }),
    })
    .add({
      method: 'get',
      path: '/health/ready',
      summary: 'Readiness: database, tables, migration level, FK types, Temporal and search attributes',
      tags: ['health'],
      access: 'public',
      responses: {
        200: { description: 'Ready', schema: Readiness },
        503: { description: 'Not ready; `problems` names each missing part', schema: Readiness },
      },
      handler: async () => {
        const report = await deps.readiness();
        return { status: report.ok ? 200 : 503, body: report };
      },
    })
    .add({
      method: 'get',
      path: '/metrics',
      summary: 'Prometheus metrics',
      tags: ['health'],
      access: 'public',
      responses: { 200: { description: 'Prometheus text exposition format' } },
      handler: async ({ res }) => {
        res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
        return { status: 200 };
      },
    });
}
