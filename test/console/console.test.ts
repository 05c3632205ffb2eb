import type { Page } from 'playwright-core';
import type { TestApi } from '../support/api';
import { ensureConsoleBuilt, launchBrowser, type TestBrowser, type TestPage } from '../support/browser';
import { startApiStack, type ApiStack } from '../support/stack';
import { until } from '../support/until';

/**
 * The managers' console in a real headless Chromium, against the real API, worker, PostgreSQL,
 * Temporal dev server and channel servers: signing in with a pasted key, the live queue (a
 * callback with an SLA of seconds breaches for real, is escalated by its workflow and moves to the
 * top), working a callback through the API's routes, what an agent is and is not offered, a phone's
 * viewport, another company's ids, appointments with their schedules, deliveries, and no content
 * security policy violation on any page.
 *
 * CONSOLE_SCREENSHOT=docs/console.png npx jest test/console  writes the README's screenshot.
 */
/** The page's sessionStorage, as the browser's global (evaluated in the page). */
interface Storage {
  getItem(key: string): string | null;
}

describe('the console in a browser', () => {
  /** The breaching callback's SLA: long enough to see it arrive at the bottom, short enough to wait for. */
  const SLA_SECONDS = 15;
  let stack: ApiStack;
  let api: TestApi;
  let browser: TestBrowser;
  const pages: TestPage[] = [];
  let company: Awaited<ReturnType<TestApi['company']>>;
  let keys: { manager: string; agent: string };
  let ids: { branch: string; agentA: string; agentB: string; manager: string; customer: string; service: string };
  let callbacks: Record<string, { id: string }> = {};

  const post = async (path: string, body: unknown, key = company.admin) => {
    const res = await api.request('POST', path, { key, body });
    if (res.status >= 300) throw new Error(`POST ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };

  async function open(viewport?: { width: number; height: number }): Promise<Page> {
    const p = await browser.page(viewport);
    pages.push(p);
    return p.page;
  }

  async function signIn(page: Page, key: string, path = '/console/'): Promise<void> {
    await page.goto(api.url + path);
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('who').waitFor();
  }

  /** The customers of the queue's rows, top to bottom. */
  const queueOrder = (page: Page) =>
    page.getByTestId('callback-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-customer')));

  beforeAll(async () => {
    await ensureConsoleBuilt();
    stack = await startApiStack();
    api = stack.api;
    browser = await launchBrowser();

    company = await api.company('Salon Sol');
    const branch = await post('/v1/branches', { name: 'Centro', timeZone: 'UTC' });
    const service = await post('/v1/services', { branchId: branch.id, name: 'Haircut', durationMinutes: 45, priceCents: 2500 });
    const agentA = await post('/v1/staff', { branchId: branch.id, name: 'Ana Agent', email: 'ana@salon.test', serviceIds: [service.id] });
    const agentB = await post('/v1/staff', { branchId: branch.id, name: 'Bruno Agent', email: 'bruno@salon.test' });
    const manager = await post('/v1/staff', { branchId: branch.id, name: 'Marta Manager', email: 'marta@salon.test', role: 'manager' });
    const customer = await post('/v1/customers', { name: 'Carla Cliente', email: 'carla@example.test', homeBranchId: branch.id });
    ids = { branch: branch.id, agentA: agentA.id, agentB: agentB.id, manager: manager.id, customer: customer.id, service: service.id };
    keys = {
      manager: (await post('/v1/api-keys', { name: 'marta', role: 'manager', staffId: manager.id })).key,
      agent: (await post('/v1/api-keys', { name: 'ana', role: 'agent', staffId: agentA.id })).key,
    };
    const create = async (customerName: string, priority: string, assignTo?: string) =>
      (
        await post(
          '/v1/callbacks',
          { branchId: branch.id, customerName, phoneNumber: '+34600111222', priority, ...(assignTo ? { assignTo } : {}) },
          company.manager,
        )
      ).callback;
    // Created under the defaults (2 h, 4 h, 24 h): they stay within their SLA for the whole test.
    callbacks = {
      ursula: await create('Urgent Ursula', 'urgent', agentA.id),
      hugo: await create('High Hugo', 'high', agentB.id),
      nora: await create('Normal Nora', 'normal', agentA.id),
    };
    // Callbacks created from now on at this branch take an SLA of seconds (running ones keep theirs).
    await api.request('PUT', '/v1/callback-settings', {
      key: company.manager,
      body: { branchId: branch.id, slaSeconds: { normal: SLA_SECONDS } },
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('serves the console with its own strict content security policy, and the API with helmet’s headers', async () => {
    const page = await fetch(`${api.url}/console/callbacks/anything`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(page.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    const missing = await fetch(`${api.url}/console/assets/nothing-here.js`);
    expect(missing.status).toBe(404);

    const json = await api.request('GET', '/v1/company', { key: company.agent });
    expect(json.headers.get('content-security-policy')).toBe(
      "default-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'",
    );
    expect(json.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(json.headers.get('strict-transport-security')).toMatch(/max-age=/);
    expect(json.headers.get('x-powered-by')).toBeNull();
  });

  it('a manager signs in, sees a breached callback move to the top with its escalation marker, completes it, and sees it leave the queue', async () => {
    const page = await open();
    await signIn(page, keys.manager);
    await page.getByRole('heading', { name: /Callback queue · Centro/ }).waitFor();
    await until('the three callbacks', async () => (await queueOrder(page)).length === 3);
    expect(await queueOrder(page)).toEqual(['Urgent Ursula', 'High Hugo', 'Normal Nora']);
    expect(await page.getByTestId('escalation-marker').count()).toBe(0);

    // A callback with an SLA of seconds: it arrives last (normal priority, newest) and counts down.
    callbacks.berta = (
      await post('/v1/callbacks', { branchId: ids.branch, customerName: 'Breaching Berta', phoneNumber: '+34600111333' }, company.agent)
    ).callback;
    await until('Berta in the queue', async () => (await queueOrder(page)).length === 4);
    expect((await queueOrder(page))[3]).toBe('Breaching Berta');
    const berta = page.locator(`[data-callback-id="${callbacks.berta.id}"]`);
    expect(await berta.getByTestId('sla').textContent()).toMatch(/left$/);

    // The SLA passes for real: the workflow escalates it, and the queue shows it first with its marker.
    await until(
      'Berta first, escalated',
      async () => (await queueOrder(page))[0] === 'Breaching Berta' && (await berta.getByTestId('escalation-marker').count()) === 1,
      (SLA_SECONDS + 30) * 1000,
    );
    expect(await berta.getByTestId('sla').textContent()).toMatch(/^Overdue by/);
    expect(await berta.getByTestId('breach-marker').textContent()).toBe('SLA breached');
    expect(await queueOrder(page)).toEqual(['Breaching Berta', 'Urgent Ursula', 'High Hugo', 'Normal Nora']);
    expect(await page.getByTestId('queue-summary').textContent()).toBe('4 open · 1 past the SLA · 1 escalated');
    if (process.env.CONSOLE_SCREENSHOT) {
      await until('every assignee named', async () => !(await page.getByTestId('queue').textContent())?.includes('…'));
      await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });
    }

    // Its page: the history from the API (assignment, breach, escalation to the branch's manager).
    await berta.getByRole('link', { name: 'Breaching Berta' }).click();
    await page.getByTestId('callback-page').waitFor();
    const history = page.getByTestId('history');
    await until('the escalation in the history', async () =>
      (await history.textContent())?.includes('Escalated (SLA breached) to Marta Manager'),
    );
    expect(await history.textContent()).toContain('SLA breached');

    // Escalating again within the cooldown: the API's 409, in words.
    await page.locator('details[data-action="escalate"] summary').click();
    await page.locator('details[data-action="escalate"] button[type="submit"]').click();
    const refused = page.locator('details[data-action="escalate"]').getByRole('alert');
    await refused.waitFor();
    expect(await refused.textContent()).toMatch(/^Not possible now: .*cooldown/);

    // Complete it through POST /v1/callbacks/:id/complete.
    await page.locator('details[data-action="complete"] summary').click();
    await page.locator('details[data-action="complete"] textarea').fill('Called back, booked for Friday');
    await page.locator('details[data-action="complete"] button[type="submit"]').click();
    await page.getByText('This callback is completed: nothing more to do.').waitFor();
    expect(await page.getByTestId('callback-page').textContent()).toContain('Called back, booked for Friday');
    const row = await api.pool.query(`SELECT status FROM callback_requests WHERE id = $1`, [callbacks.berta.id]);
    expect(row.rows[0].status).toBe('completed');

    // Back in the queue it is gone; the others keep their order.
    await page.getByRole('link', { name: '← Queue' }).click();
    await until('Berta gone', async () => {
      const order = await queueOrder(page);
      return order.length === 3 && !order.includes('Breaching Berta');
    });
    expect(await queueOrder(page)).toEqual(['Urgent Ursula', 'High Hugo', 'Normal Nora']);
  }, 120_000);

  it('filters the queue by status, priority and assignee', async () => {
    const page = await open();
    await signIn(page, keys.manager, `/console/branches/${ids.branch}/queue`);
    await until('the queue', async () => (await queueOrder(page)).length === 3);
    await page.getByLabel('Assignee').selectOption({ label: 'Ana Agent' });
    await until('Ana’s callbacks', async () => (await queueOrder(page)).join() === 'Urgent Ursula,Normal Nora');
    await page.getByLabel('Priority').selectOption('normal');
    await until('Ana’s normal ones', async () => (await queueOrder(page)).join() === 'Normal Nora');
    expect(page.url()).toContain(`assignee=${ids.agentA}`);
    await page.getByLabel('Assignee').selectOption('');
    await page.getByLabel('Priority').selectOption('');
    await page.getByLabel('Status').selectOption('completed');
    await until('the completed one', async () => (await queueOrder(page)).join() === 'Breaching Berta');
  });

  it('an agent is offered the actions on their own callback only, never the manager’s, and sees a 403 in words', async () => {
    const page = await open();
    await signIn(page, keys.agent);
    expect(await page.getByTestId('who').textContent()).toBe('ana · agent');
    expect(await page.getByRole('link', { name: 'Deliveries' }).count()).toBe(0);
    await until('the queue', async () => (await queueOrder(page)).length === 3);

    // Ana's own callback: attempts and completion, no reassign, escalate or cancel.
    await page.getByRole('link', { name: 'Urgent Ursula' }).click();
    await page.getByTestId('actions').waitFor();
    const offered = await page.locator('details[data-action]').evaluateAll((ds) => ds.map((d) => d.getAttribute('data-action')));
    expect(offered).toEqual(['attempts', 'complete']);
    await page.locator('details[data-action="attempts"] summary').click();
    await page.locator('details[data-action="attempts"] select').selectOption('no_answer');
    await page.locator('details[data-action="attempts"] button[type="submit"]').click();
    await page.getByRole('status').waitFor(); // "Done: …" (200), or "Accepted: …" (202) when applying took longer
    await until('the attempt in the history', async () =>
      (await page.getByTestId('history').textContent())?.includes('Contact attempt: no answer (Ana Agent)'),
    );

    // Bruno's callback: nothing to do for Ana.
    await page.goto(`${api.url}/console/callbacks/${callbacks.hugo.id}`);
    await page.getByTestId('no-actions').waitFor();
    expect(await page.getByTestId('no-actions').textContent()).toBe('Assigned to someone else: only they or a manager can act on it.');
    expect(await page.locator('details[data-action]').count()).toBe(0);

    // A stale page: a manager reassigns Ursula to Bruno while Ana's page still offers the attempt
    // (its clock held just after a refresh, so it does not refresh again); the API's 403, in words.
    await page.clock.install(); // every timer of the page from here on is the test's to hold
    await page.goto(`${api.url}/console/callbacks/${callbacks.ursula.id}`);
    await page.getByTestId('actions').waitFor();
    const read = (r: { url(): string; request(): { method(): string } }) =>
      r.url().endsWith(`/v1/callbacks/${callbacks.ursula.id}`) && r.request().method() === 'GET';
    await page.waitForResponse(read);
    await page.clock.pauseAt(Date.now() + 50); // the next refresh is ~3 s of page time away
    const reassigned = await api.request('POST', `/v1/callbacks/${callbacks.ursula.id}/reassign`, {
      key: keys.manager,
      body: { staffId: ids.agentB },
    });
    expect(reassigned.status).toBe(200);
    await page.locator('details[data-action="attempts"] summary').click();
    await page.locator('details[data-action="attempts"] button[type="submit"]').click();
    const alert = page.locator('details[data-action="attempts"]').getByRole('alert');
    await until('the 403 shown', async () => {
      await page.clock.runFor(1); // runs the page's zero-delay callbacks (the answer's render), 1 ms at a time
      return (await alert.count()) === 1;
    });
    expect(await alert.textContent()).toMatch(/^Not allowed for your key: .+/);
    await page.clock.resume();
    await page.getByTestId('no-actions').waitFor();

    // Delivery figures are a manager's: not offered.
    await page.getByRole('link', { name: 'Notifications' }).click();
    await page.getByText('Delivery figures are for managers.', { exact: false }).waitFor();
    expect(await page.getByTestId('delivery-chart').count()).toBe(0);
  }, 90_000);

  it('works on a phone’s narrow viewport: the queue is usable without scrolling the page sideways', async () => {
    const page = await open({ width: 375, height: 740 });
    await signIn(page, keys.manager);
    await until('the queue', async () => (await queueOrder(page)).length === 3);
    // The page's own width beyond the screen's (run in the browser: `document` is the page's).
    const overflow = () =>
      page.evaluate(() => {
        const root = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number } } }).document
          .documentElement;
        return root.scrollWidth - root.clientWidth;
      });
    expect(await overflow()).toBe(0);
    // Every row's name, SLA and markers are inside the screen.
    for (const box of await page.getByTestId('callback-row').evaluateAll((rows) => rows.map((r) => r.getBoundingClientRect().toJSON()))) {
      expect(box.left).toBeGreaterThanOrEqual(0);
      expect(box.right).toBeLessThanOrEqual(375);
    }
    await page.getByRole('link', { name: 'High Hugo' }).click();
    await page.getByTestId('actions').waitFor();
    expect(await overflow()).toBe(0);
    await page.locator('details[data-action="reassign"] summary').click();
    expect(await page.locator('details[data-action="reassign"] select').isVisible()).toBe(true);
    expect(await overflow()).toBe(0);
  });

  it('shows "not found" for another company’s callback, branch and notification, and never its data', async () => {
    const other = await api.company('Other Co');
    const otherBranch = (await api.request('POST', '/v1/branches', { key: other.admin, body: { name: 'Elsewhere' } })).body;
    const secret = (
      await api.request('POST', '/v1/callbacks', {
        key: other.agent,
        body: { branchId: otherBranch.id, customerName: 'Secret Sam', phoneNumber: '+34600999888' },
      })
    ).body.callback;
    const page = await open();
    await signIn(page, keys.manager, `/console/callbacks/${secret.id}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toBe('Not found. It does not exist, or it belongs to another company.');
    expect(await page.content()).not.toContain('Secret Sam');
    await page.goto(`${api.url}/console/branches/${otherBranch.id}/queue`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/^Not found/);
    expect(await page.content()).not.toContain('Secret Sam');
    const otherCustomer = (
      await api.request('POST', '/v1/customers', { key: other.admin, body: { name: 'Secret Sue', email: 'sue@example.test' } })
    ).body;
    const notification = await api.request('POST', '/v1/notifications', {
      key: other.agent,
      body: { eventType: 'payment_received', notifiable: { type: 'customer', id: otherCustomer.id }, data: {} },
    });
    expect(notification.status).toBe(202);
    await page.goto(`${api.url}/console/notifications/${notification.body.notification.id}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/^Not found/);
    expect(await page.content()).not.toContain('sue@example.test');
    expect(await page.getByTestId('attempts').count()).toBe(0);
  });

  it('shows tomorrow’s appointments with their reminder schedule, escalations waiting, and deliveries as a chart with a notification’s attempts', async () => {
    // Tomorrow 12:00 in the branch's zone (UTC): the 24 h reminder is due today at 12:00, the 2 h one tomorrow at 10:00.
    const start = new Date();
    start.setUTCDate(start.getUTCDate() + 1);
    start.setUTCHours(12, 0, 0, 0);
    const appointment = await post(
      '/v1/appointments',
      {
        customerId: ids.customer,
        branchId: ids.branch,
        serviceId: ids.service,
        staffId: ids.agentA,
        startsAt: start.toISOString(),
        endsAt: new Date(start.getTime() + 45 * 60_000).toISOString(),
      },
      company.manager,
    );
    // A manual escalation waiting for a manager.
    const escalated = await api.request('POST', `/v1/callbacks/${callbacks.nora.id}/escalate`, {
      key: keys.manager,
      body: { notes: 'VIP' },
    });
    expect(escalated.status).toBe(200);

    const page = await open();
    await signIn(page, keys.manager, `/console/branches/${ids.branch}/appointments?day=tomorrow`);
    const card = page.locator(`[data-appointment-id="${appointment.id}"]`);
    await card.waitFor();
    await until('the customer, service and staff member named', async () => {
      const text = (await card.textContent()) ?? '';
      return ['Carla Cliente', 'Haircut', 'Ana Agent'].every((name) => text.includes(name));
    });
    await until('the 2 h reminder planned', async () =>
      (await card.locator('[data-state="due"]').allTextContents()).some((t) => t.includes('Reminder 2 h before')),
    );
    await page.getByRole('button', { name: 'Today' }).click();
    await until('no appointment today', async () => (await page.getByText('No appointments on this day.').count()) === 1);

    await page.getByRole('link', { name: 'Escalations' }).click();
    const waiting = page.locator(`[data-testid="escalation"][data-callback-id="${callbacks.nora.id}"]`);
    await waiting.waitFor();
    await until('the manager named', async () => (await waiting.textContent())?.includes('Marta Manager'));
    expect(await waiting.textContent()).toContain('escalated by hand');
    expect(await waiting.textContent()).toContain('VIP');

    // Deliveries: the staff_assigned and callback_escalated emails of this test, as a chart and a table.
    await page.getByRole('link', { name: 'Deliveries' }).click();
    await page.getByTestId('delivery-chart').locator('canvas').waitFor();
    await until('emails counted', async () => /^[1-9]\d* sent/.test((await page.getByTestId('delivery-totals').textContent()) ?? ''));
    expect(await page.getByTestId('delivery-table').textContent()).toContain('callback_escalated');
    await page.getByLabel('Period', { exact: true }).selectOption('24h');
    await until('the period in the address', async () => page.url().includes('period=24h'));

    // A notification's attempts, reached from the escalation on the callback's page.
    await page.goto(`${api.url}/console/callbacks/${callbacks.nora.id}`);
    await page.getByRole('link', { name: 'the manager’s notification' }).click();
    await until('the attempt sent', async () => (await page.getByTestId('attempts').textContent())?.includes('sent'));
    expect(await page.getByTestId('notification-summary').textContent()).toContain('callback_escalated');
    expect(await page.getByTestId('attempts').textContent()).toContain('smtp');
  }, 90_000);

  it('signs out: the key leaves the tab, and a reload asks for a key again', async () => {
    const page = await open();
    await signIn(page, keys.manager);
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: Storage }).sessionStorage.getItem('console.apiKey'))).toBe(
      keys.manager,
    );
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(
      await page.evaluate(() => (globalThis as unknown as { sessionStorage: Storage }).sessionStorage.getItem('console.apiKey')),
    ).toBeNull();
    await page.reload();
    await page.getByLabel('API key').waitFor();
    // A key that is not one: the 401 in words.
    await page.getByLabel('API key').fill('ak_00000000_not-a-real-key-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/^This key is not accepted/);
  });

  it('no page broke its content security policy or threw', () => {
    expect(pages.length).toBeGreaterThan(5);
    expect(pages.flatMap((p) => p.problems)).toEqual([]);
  });
});
