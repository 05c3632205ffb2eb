import pino, { type Logger } from 'pino';

/** One structured (JSON) logger for the process; children carry the component name. */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'appointment-orchestrator' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.token'], remove: true },
  });
}

export const logger = createLogger();
export type { Logger };
