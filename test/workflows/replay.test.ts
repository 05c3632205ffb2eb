import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/temporal';
import { testDataConverter } from '../support/encryption';
import { loadHistories } from './recorded-histories';

/**
 * Determinism guard: histories recorded from earlier runs (test/workflows/histories, added to
 * with `UPDATE_HISTORIES=1 npx jest test/notifications/delivery test/consent/notifications test/callbacks/workflow test/appointments/workflow test/appointments/reach test/faults/appointment-outages test/privacy/erasure-races test/faults/local-step-endings`) must replay with the current
 * workflow code. A change that would break running workflows fails here: use patched() instead.
 */
describe('recorded workflow histories replay with the current code', () => {
  it('replays every recorded history without nondeterminism', async () => {
    const histories = loadHistories();
    expect(histories.length).toBeGreaterThanOrEqual(10);
    // The recordings cover the shapes a change is most likely to break (recorded by
    // test/notifications/delivery.test.ts with UPDATE_HISTORIES=1, named after their test).
    const names = histories.map((h) => h.workflowId).join('\n');
    for (const shape of ['cancel', 'quiet-hours', 'template-error', 'fails-once', 'falls-back', 'rate-limit'])
      expect(names).toMatch(new RegExp(`^notification-.*${shape}`, 'm'));
    // ... with the customer's consent (test/consent/notifications.test.ts): a channel skipped, all refused, refused mid-retry.
    for (const shape of ['consent-an-opted-out-channel', 'consent-opted-out-of-both', 'consent-an-opt-out-made-while'])
      expect(names).toMatch(new RegExp(`^notification-${shape}`, 'm'));
    // ... and of the callback workflow (test/callbacks/workflow.test.ts).
    for (const shape of [
      'whole-lifecycle',
      'sla-breach',
      'three-failed',
      'cooldown',
      'reassigns',
      'long-life',
      'continued-as-new',
      // ... and its second durability pass: a signal kept during the assignment step, the cooldown from the committed escalation, attempts since any escalation.
      'available-while-the-assignment',
      'the-cooldown-runs-from-the-committed',
      'failed-attempts-count-since-the-last',
      // ... and a local step that gave up (test/faults/local-step-endings.test.ts): it replays from
      // its marker as the bare failure, without the ActivityFailure wrapper, and must end the same.
      'recording-an-attempt-gives-up',
      'writing-an-accepted-completion-gives-up',
    ])
      expect(names).toMatch(new RegExp(`^callback-.*${shape}`, 'm'));
    // ... and of the appointment workflow (test/appointments/workflow.test.ts).
    for (const shape of [
      'reminders-at-their-instants',
      'reschedule-moves-the-timers',
      'cancellation-ends',
      'inside-the-reminder-window',
      'long-life',
      // issue 15: a step that gave up recorded, a stalled read, a bug that ends the run, a cancel
      // (erasure) while a step is in flight, an erased customer's appointment changed again
      'outlasts-its-retry-budget-is-recorded',
      'reading-the-row-outlasts',
      'a-bug-in-the-workflow-code',
      'erased-while-a-reminder-step',
      'erased-then-rescheduled',
      'quiet-hours-ending-after-the-start',
    ])
      expect(names).toMatch(new RegExp(`^appointment-.*${shape}`, 'm'));
    // ... and a notification suppressed because quiet hours would end after its moment.
    expect(names).toMatch(/^notification-late-quiet-hours/m);
    // ... and notifications whose local step gave up (test/faults/local-step-endings.test.ts): the final write, and another.
    for (const shape of ['its-final-write-gives-up', 'marking-the-retry-wait-gives-up'])
      expect(names).toMatch(new RegExp(`^notification-${shape}`, 'm'));
    // ... and the delivery plan (patch channel-plan, test/appointments/reach.test.ts): channels without an address passed by.
    for (const shape of ['reach-only-an-email-appointment-reminder-2h', 'reach-only-a-phone-customer-feedback', 'reach-both'])
      expect(names).toMatch(new RegExp(`^notification-${shape}`, 'm'));
    const failures: string[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: await workflowBundle(), dataConverter: testDataConverter() },
      histories,
    )) {
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
  });
});
