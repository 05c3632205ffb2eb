import { text, TimeZone, Uuid } from '../api/fields';
import { ROLES } from '../api/roles';
import { z } from '../api/zod';

export const CreateCompany = z
  .object({
    name: text(1, 200),
    timeZone: TimeZone.default('UTC'),
    adminKeyName: text(1, 100).default('first admin key'),
  })
  .strict()
  .openapi('CreateCompany');

export const Company = z.object({ id: Uuid, name: z.string(), timeZone: z.string(), createdAt: z.iso.datetime() }).openapi('Company');

export const CreateApiKey = z
  .object({
    name: text(1, 100),
    role: z.enum(ROLES),
    staffId: Uuid.nullish().openapi({ description: 'The staff member the key belongs to (an agent works the callbacks assigned to them)' }),
  })
  .strict()
  .openapi('CreateApiKey');

export const ApiKey = z
  .object({
    id: Uuid,
    name: z.string(),
    role: z.enum(ROLES),
    staffId: Uuid.nullable(),
    prefix: z.string(),
    createdAt: z.iso.datetime(),
    lastUsedAt: z.iso.datetime().nullable(),
    revokedAt: z.iso.datetime().nullable(),
  })
  .openapi('ApiKey');

export const CreatedApiKey = ApiKey.extend({ key: z.string().openapi({ description: 'Shown once; only its hash is stored' }) }).openapi(
  'CreatedApiKey',
);

export const CreatedCompany = z.object({ company: Company, apiKey: CreatedApiKey }).openapi('CreatedCompany');
