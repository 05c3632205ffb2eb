import fs from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker, bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { PayloadCodec } from '@temporalio/common';
import type { Logger } from 'pino';
import { FAILURE_CONVERTER_PATH, productDataConverter } from './data-converter';

/** The module the worker bundles: every workflow of the product. */
export const WORKFLOWS_PATH = path.resolve(__dirname, '..', '..', 'workflows', 'index.ts');

export interface ProductWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: object;
  /**
   * Encrypts what the worker writes to history and decrypts what it reads (src/temporal/payload-codec.ts).
   * Required: a worker without the keys could not read encrypted histories, so it is never built without.
   */
  payloadCodec: PayloadCodec;
  /** A pre-built bundle (tests bundle once per file); otherwise the worker bundles WORKFLOWS_PATH. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  maxConcurrentActivityTaskExecutions?: number;
  maxConcurrentLocalActivityExecutions?: number;
  maxCachedWorkflows?: number;
  shutdownGraceMs?: number;
  logger?: Logger;
}

/**
 * The workflow code, bundled once (webpack + swc inside the SDK) for createProductWorker. With
 * WORKFLOW_BUNDLE_PATH set to a file written by `npm run build:workflows` (the Docker image does
 * it at build time, the test suite once per run), workers start without bundling.
 */
export async function bundleWorkflows(env: NodeJS.ProcessEnv = process.env): Promise<WorkflowBundleWithSourceMap> {
  const prebuilt = env.WORKFLOW_BUNDLE_PATH;
  if (prebuilt && fs.existsSync(prebuilt)) return { code: fs.readFileSync(prebuilt, 'utf8') } as WorkflowBundleWithSourceMap;
  return bundleWorkflowCode(bundlerOptions());
}

/** Writes the bundle to `file` (for WORKFLOW_BUNDLE_PATH). */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode(bundlerOptions());
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
}

/** The workflow code and, inside the sandbox, the product's failure converter (failure messages encrypted too). */
const bundlerOptions = () => ({ workflowsPath: WORKFLOWS_PATH, failureConverterPath: FAILURE_CONVERTER_PATH, logger: silentBundlerLogger });

/** One worker for the product's task queue: every workflow and activity. */
export function createProductWorker(options: ProductWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: options.activities,
    dataConverter: productDataConverter(options.payloadCodec),
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 20,
    maxConcurrentLocalActivityExecutions: options.maxConcurrentLocalActivityExecutions ?? 20,
    maxCachedWorkflows: options.maxCachedWorkflows,
    // On SIGTERM: stop polling, let running activities finish (they honour cancellation), then exit.
    shutdownGraceTime: options.shutdownGraceMs ?? 10_000,
    shutdownForceTime: (options.shutdownGraceMs ?? 10_000) + 5_000,
  });
}

const silentBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string, meta?: unknown) => console.warn(message, meta ?? ''),
  error: (message: string, meta?: unknown) => console.error(message, meta ?? ''),
};

export { NativeConnection };
