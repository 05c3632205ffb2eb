import { OpenAPIRegistry, OpenApiGeneratorV31 } from '@asteasolutions/zod-to-openapi';

export function createOpenApiRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (`ak_…`) of one company, or the platform token for POST /v1/companies',
  });
  return registry;
}

/** The OpenAPI 3.1 document, generated from the same zod schemas that validate requests. */
export function openApiDocument(registry: OpenAPIRegistry) {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Appointment orchestration API',
      version: '1.0.0',
      description:
        'Callback requests, notifications and cancellation/reschedule policies of an appointment business, run as durable Temporal workflows.',
    },
    servers: [{ url: '/' }],
  });
}
