import type { TestApi } from '../support/api';
import { fieldsOf, seedDirectory } from '../support/directory';
import { until } from '../support/until';
import { startApiStack, type ApiStack } from '../support/stack';

/**
 * GET /v1/branches/:id/callbacks/escalations: a branch's escalations waiting for a manager (the
 * console's escalations page), on the real API, the shared dev server and a worker.
 */
describe('escalations waiting for a manager', () => {
  let stack: ApiStack;
  let api: TestApi;

  beforeAll(async () => {
    stack = await startApiStack();
    ({ api } = stack);
  });
  afterAll(() => stack?.close());

  it('GET /v1/branches/:id/callbacks/escalations lists the open escalations of the branch, oldest first, until the callback ends', async () => {
    const company = await api.company();
    const dir = await seedDirectory(api, company);
    const other = await api.company();
    const otherDir = await seedDirectory(api, other);
    const manager = (
      await api.request('POST', '/v1/staff', { key: company.admin, body: { branchId: dir.branch.id, name: 'Marta', role: 'manager' } })
    ).body;
    const create = async (customerName: string) =>
      (
        await api.request('POST', '/v1/callbacks', {
          key: company.agent,
          body: { branchId: dir.branch.id, customerName, phoneNumber: '+34600000002' },
        })
      ).body.callback;
    const [first, second, quiet] = [await create('First'), await create('Second'), await create('Quiet')];
    const path = `/v1/branches/${dir.branch.id}/callbacks/escalations`;
    expect((await api.request('GET', path, { key: company.agent })).body).toEqual({ items: [] });

    for (const c of [first, second]) {
      await until(
        'the assignment',
        async () => (await api.request('GET', `/v1/callbacks/${c.id}`, { key: company.agent })).body.live?.assignedTo,
      );
      const escalated = await api.request('POST', `/v1/callbacks/${c.id}/escalate`, {
        key: company.manager,
        body: { notes: `about ${c.customerName}` },
      });
      expect(escalated.status).toBe(200);
    }
    const open = await api.request('GET', path, { key: company.agent });
    expect(open.status).toBe(200);
    expect(open.body.items.map((i: any) => [i.callback.customerName, i.escalation.reason, i.escalation.notes])).toEqual([
      ['First', 'manual', 'about First'],
      ['Second', 'manual', 'about Second'],
    ]);
    expect(open.body.items[0].escalation).toMatchObject({ escalatedTo: manager.id, escalatedFrom: dir.staff.id });
    expect(open.body.items[0].callback).toMatchObject({ id: first.id, escalated: true, escalationCount: 1, status: 'assigned' });
    expect(open.body.items.map((i: any) => i.callback.id)).not.toContain(quiet.id);

    // Ending the callback resolves its escalations: it no longer waits for anyone.
    expect(
      (await api.request('POST', `/v1/callbacks/${first.id}/complete`, { key: company.manager, body: { notes: 'called' } })).status,
    ).toBe(200);
    const after = await api.request('GET', path, { key: company.agent });
    expect(after.body.items.map((i: any) => i.callback.id)).toEqual([second.id]);

    // Another company's branch is not found; a malformed id names the field.
    const foreign = await api.request('GET', `/v1/branches/${otherDir.branch.id}/callbacks/escalations`, { key: company.agent });
    expect([foreign.status, foreign.body.error.code]).toEqual([404, 'not_found']);
    const bad = await api.request('GET', '/v1/branches/nope/callbacks/escalations', { key: company.agent });
    expect([bad.status, fieldsOf(bad)]).toEqual([400, ['params.id']]);
    expect((await api.request('GET', path)).status).toBe(401);
  });
});
