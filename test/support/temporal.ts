import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { timeSkippingServerExecutable } from '../../src/temporal/binaries';
import { registerSearchAttributes } from '../../src/temporal/search-attributes';
import { bundleWorkflows } from '../../src/temporal/worker';
import { testDataConverter } from './encryption';

/** The suite's shared Temporal dev server (started by global-setup, or TEMPORAL_ADDRESS). */
export async function sharedTemporal(): Promise<TestWorkflowEnvironment> {
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run the tests through jest');
  return TestWorkflowEnvironment.createFromExistingServer({
    address,
    namespace: process.env.TEST_TEMPORAL_NAMESPACE,
    client: { dataConverter: testDataConverter() },
  });
}

/**
 * A private time-skipping test server (the official Java one) for this test file: time skips
 * while the test awaits a workflow result, so hours of durable timers pass in milliseconds.
 */
export async function timeSkippingTemporal(): Promise<TestWorkflowEnvironment> {
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: timeSkippingServerExecutable() },
    client: { dataConverter: testDataConverter() },
  });
  await registerSearchAttributes(env.connection, env.namespace ?? 'default').catch(() => undefined);
  return env;
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** The workflow bundle, built once per test file (bundling costs seconds). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflows();
  return bundle;
}

/** A task queue no other test file polls. */
export const uniqueTaskQueue = (prefix = 'test') => `${prefix}-${randomUUID()}`;
