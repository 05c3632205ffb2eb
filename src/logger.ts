import pino, { type DestinationStream, type Logger } from 'pino';

/** One structured (JSON) logger for the process; children carry the component name. `destination`: stdout unless given (tests read their logs). */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'appointment-orchestrator' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.token'], remove: true },
  };
  return destination ? pino(options, destination) : pino(options);
}

export const logger = createLogger();
export type { Logger };
