import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

// Once, before any schema is built: lets every schema carry its OpenAPI name and example.
extendZodWithOpenApi(z);

export { z };
