import { proxyActivities } from '@temporalio/workflow';

/** The floor for comparison: one workflow, one activity that sends the same email with plain nodemailer. */
export interface BareActivities {
  sendPlainEmail(to: string, subject: string, text: string): Promise<void>;
}

const { sendPlainEmail } = proxyActivities<BareActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export async function bareEmailWorkflow(to: string, subject: string, text: string): Promise<void> {
  await sendPlainEmail(to, subject, text);
}

/** The floor for intake: a workflow that does nothing (its start is what is measured). */
export async function emptyWorkflow(): Promise<void> {}

/** The floor for payload encryption: a workflow whose input and result are one payload each (bench/encryption.ts). */
export async function echoWorkflow<T>(input: T): Promise<T> {
  return input;
}
