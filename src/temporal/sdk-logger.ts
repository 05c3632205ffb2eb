import { Runtime, type Logger as SdkLogger, type LogLevel, type LogMetadata } from '@temporalio/worker';
import type { Logger } from 'pino';

const LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/** The SDK's logger (worker, workflow and activity context loggers) writing to our pino logger. */
export function pinoSdkLogger(logger: Logger): SdkLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) =>
    logger[LEVEL[level]]({ ...meta, component: 'temporal-sdk' }, message);
  return {
    log: write,
    trace: (m, meta) => write('TRACE', m, meta),
    debug: (m, meta) => write('DEBUG', m, meta),
    info: (m, meta) => write('INFO', m, meta),
    warn: (m, meta) => write('WARN', m, meta),
    error: (m, meta) => write('ERROR', m, meta),
  };
}

let installed = false;
/**
 * Installs the SDK runtime once per process, logging through pino and, with `metricsBindAddress`
 * (e.g. `0.0.0.0:9464`), serving the SDK's worker metrics (task latencies, slots, poll results,
 * sticky cache, activity and workflow outcomes) for Prometheus. Must run before anything creates
 * the runtime (a worker, a NativeConnection, @temporalio/testing); later calls are no-ops.
 */
export function installSdkRuntime(logger: Logger, options: { metricsBindAddress?: string } = {}): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({
      logger: pinoSdkLogger(logger),
      ...(options.metricsBindAddress
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: options.metricsBindAddress, countersTotalSuffix: true } } } }
        : {}),
    });
  } catch (error) {
    logger.warn({ err: error }, 'the Temporal SDK runtime already existed; its logs keep their default destination');
  }
}
