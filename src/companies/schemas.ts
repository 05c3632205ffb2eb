import { text, TimeZone, Uuid } from '../api/fields';
import { ROLES } from '../api/roles';
import { z } from '../api/zod';
import { Country } from '../directory/phone';

const CompanyCountry = Country.openapi({
  description:
    "The country phone numbers written without a country code are read in (ISO 3166-1 alpha-2); a branch may have its own. Absent on creation: the time zone's country (Europe/Madrid: ES), none for UTC (then numbers need their +country code)",
});

export const CreateCompany = z
  .object({
    name: text(1, 200),
    timeZone: TimeZone.default('UTC'),
    country: CompanyCountry.optional(),
    adminKeyName: text(1, 100).default('first admin key'),
  })
  .strict()
  .openapi('CreateCompany');

export const Company = z
  .object({
    id: Uuid,
    name: z.string(),
    timeZone: z.string(),
    country: z
      .string()
      .nullable()
      .openapi({ description: 'Where national phone numbers are read; null: none (numbers need +country code)' }),
    createdAt: z.iso.datetime(),
  })
  .openapi('Company');

/** What an admin may change of the company. */
export const UpdateCompany = z
  .object({ country: CompanyCountry.nullable().openapi({ description: 'null: none (numbers need their +country code)' }) })
  .partial()
  .strict()
  .openapi('UpdateCompany');

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

const featureSetting = (name: string) =>
  z
    .boolean()
    .nullable()
    .optional()
    .openapi({
      description: `The ${name} system for this company: true on, false off, null back to the deployment's default; absent: unchanged`,
    });

export const UpdateCompanyFeatures = z
  .object({
    policies: featureSetting('policy (quotes, cancellations and reschedules through the policy engine)'),
    callbacks: featureSetting('callback (creating callback requests)'),
    notifications: featureSetting('notification (sending notifications)'),
  })
  .strict()
  .openapi('UpdateCompanyFeatures');

export const FeatureState = z
  .object({
    enabled: z.boolean().openapi({ description: 'Whether the feature is on for the company now' }),
    override: z.boolean().nullable().openapi({ description: 'The company’s own setting; null: the default applies' }),
    default: z.boolean().openapi({ description: 'The deployment’s default (FEATURE_POLICIES, FEATURE_CALLBACKS, FEATURE_NOTIFICATIONS)' }),
  })
  .openapi('FeatureState');

export const CompanyFeatures = z
  .object({
    policies: FeatureState,
    callbacks: FeatureState,
    notifications: FeatureState,
    updatedAt: z.iso.datetime().nullable().openapi({ description: 'Last change of the company’s settings; null: never set' }),
    updatedBy: z.string().nullable().openapi({ description: 'Who made the last change (`api_key:<id>`)' }),
  })
  .openapi('CompanyFeatures');
