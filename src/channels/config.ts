import { z } from 'zod';

/**
 * The channel providers' settings, read from the environment once and validated (apart from
 * src/config.ts so the API skeleton and the notification channels can evolve separately).
 * Defaults are safe for a laptop: everything points at loopback.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v));

const smtpUrl = z.string().refine((v) => /^smtps?:\/\/[^/]+/.test(v), { message: 'must be an smtp:// or smtps:// URL' });

export const channelConfigSchema = z
  .object({
    SMTP_URL: smtpUrl.default('smtp://127.0.0.1:1025'),
    SMTP_FROM: z.string().min(3).default('Appointments <notifications@localhost>'),
    /** A second SMTP provider: email fails over to it before waiting for a retry. */
    SMTP_BACKUP_URL: optional.pipe(smtpUrl.optional()),
    TWILIO_BASE_URL: z.url().default('http://127.0.0.1:4010'),
    TWILIO_ACCOUNT_SID: z.string().min(1).default('AC00000000000000000000000000000000'),
    TWILIO_AUTH_TOKEN: z.string().min(1).default('local-token'),
    TWILIO_SMS_FROM: z
      .string()
      .regex(/^\+[1-9]\d{6,14}$/, 'must be an E.164 number')
      .default('+15005550006'),
    TWILIO_WHATSAPP_FROM: z
      .string()
      .regex(/^whatsapp:\+[1-9]\d{6,14}$/, 'must be whatsapp:+<E.164>')
      .default('whatsapp:+14155238886'),
    /** VAPID key pair (URL-safe base64, as `web-push generate-vapid-keys` prints); both or neither. */
    VAPID_PUBLIC_KEY: optional,
    VAPID_PRIVATE_KEY: optional,
    VAPID_SUBJECT: z
      .string()
      .regex(/^(mailto:|https:\/\/)/, 'must be a mailto: or https:// URL')
      .default('mailto:notifications@localhost'),
    PUSH_TTL_SECONDS: z.coerce.number().int().min(0).max(2_419_200).default(86_400),
    /**
     * Tests and development only: tenant-supplied URLs (push endpoints) may be http and point at
     * loopback (127/8, ::1), for a push service on this machine. Off by default; refused with
     * NODE_ENV=production (src/net/outgoing.ts).
     */
    OUTGOING_ALLOW_LOOPBACK: z.stringbool({ error: 'must be true or false' }).default(false),
    /** Upper bound of one provider call (connect + send). */
    CHANNEL_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  })
  .refine((c) => (c.VAPID_PUBLIC_KEY === undefined) === (c.VAPID_PRIVATE_KEY === undefined), {
    message: 'set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither',
    path: ['VAPID_PRIVATE_KEY'],
  });

export type ChannelConfig = z.infer<typeof channelConfigSchema>;

export class ChannelConfigError extends Error {}

export function loadChannelConfig(env: NodeJS.ProcessEnv = process.env): ChannelConfig {
  // An empty variable (VAR= in a compose file or .env) means "not set": take the default.
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ''));
  const parsed = channelConfigSchema.safeParse(set);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ChannelConfigError(`invalid channel configuration: ${problems}`);
  }
  if (parsed.data.OUTGOING_ALLOW_LOOPBACK && env.NODE_ENV === 'production')
    throw new ChannelConfigError(
      'invalid channel configuration: OUTGOING_ALLOW_LOOPBACK: must not be set with NODE_ENV=production (it lets tenant URLs reach this host)',
    );
  return parsed.data;
}
