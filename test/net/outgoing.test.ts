import dns from 'node:dns';
import http from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { isPublicAddress, isRefusedAddress, outgoingAgents, outgoingUrlProblem, statusLine } from '../../src/net/outgoing';

/** The outgoing-URL rules (src/net/outgoing.ts) on their own: which addresses are public, and the agents against a real local server. */
describe('outgoing URL rules', () => {
  it('calls public only what is unicast on the internet', () => {
    const notPublic = [
      '127.0.0.1',
      '127.255.0.9',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.1',
      '169.254.169.254',
      '100.64.0.1',
      '100.127.255.254',
      '0.0.0.0',
      '0.1.2.3',
      '224.0.0.251',
      '255.255.255.255',
      '192.0.2.10',
      '198.18.0.1',
      '240.0.0.1',
      '::',
      '::1',
      'fe80::1',
      'fc00::1',
      'fd12:3456:789a::1',
      'fec0::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:8.8.8.8', // IPv4-mapped: refused whatever it maps to
      '::127.0.0.1', // IPv4-compatible
      '64:ff9b::a00:1', // NAT64 of 10.0.0.1
      '2002:a00:1::1', // 6to4
      '2001::1', // Teredo
      '2001:db8::1',
      'not an address',
    ];
    for (const address of notPublic) expect([address, isPublicAddress(address)]).toEqual([address, false]);
    for (const address of ['8.8.8.8', '93.184.215.14', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '2a00:1450:4001:82a::200a'])
      expect([address, isPublicAddress(address)]).toEqual([address, true]);
  });

  it('knows at input what it can: scheme, credentials, IP literals and localhost', () => {
    expect(outgoingUrlProblem('https://fcm.googleapis.com/fcm/send/x')).toBeNull();
    expect(outgoingUrlProblem('https://push.internal.example/x')).toBeNull(); // a name: checked when it is resolved
    expect(outgoingUrlProblem('http://fcm.googleapis.com/x')).toBe('must be an https URL');
    expect(outgoingUrlProblem('https://u:p@fcm.googleapis.com/x')).toBe('must not carry credentials');
    expect(outgoingUrlProblem('https://LOCALHOST./x')).toBe('must not point at this host (localhost)');
    expect(outgoingUrlProblem('https://api.localhost/x')).toBe('must not point at this host (localhost)');
    expect(outgoingUrlProblem('https://0x7f.1/x')).toBe('must not point at a loopback, private or otherwise non-public address');
    expect(outgoingUrlProblem('https://[::ffff:7f00:1]/x')).toBe('must not point at a loopback, private or otherwise non-public address');
    expect(outgoingUrlProblem('nonsense')).toBe('must be a URL');
    // The test switch: http and loopback, nothing else private.
    expect(outgoingUrlProblem('http://127.0.0.1:9/x', { allowLoopback: true })).toBeNull();
    expect(outgoingUrlProblem('http://localhost:9/x', { allowLoopback: true })).toBeNull();
    expect(outgoingUrlProblem('https://10.0.0.1/x', { allowLoopback: true })).toBe(
      'must not point at a loopback, private or otherwise non-public address',
    );
  });

  it('statusLine is the status and its standard phrase only', () => {
    expect(statusLine(404)).toBe('HTTP 404 Not Found');
    expect(statusLine(599)).toBe('HTTP 599');
  });

  describe('the agents, against a server on this host', () => {
    let server: http.Server;
    let port: number;
    let hits = 0;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        hits += 1;
        req.resume();
        res.end('inside');
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    /** Answers `named.test` with loopback, counting how often it is asked. */
    const counting = () => {
      const counter = { calls: 0 };
      const lookup = ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
        if (hostname !== 'named.test') return dns.lookup(hostname, options, callback as never);
        counter.calls += 1;
        process.nextTick(() => (options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)));
      }) as unknown as LookupFunction;
      return { counter, lookup };
    };

    const get = (url: string, agent: http.Agent) =>
      new Promise<number>((resolve, reject) => {
        const req = http.get(url, { agent, timeout: 2_000 }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });

    it('refuses loopback whether named or literal (the agent checks IP literals too), and only lets it through with the test switch', async () => {
      const strict = outgoingAgents();
      const local = outgoingAgents({ allowLoopback: true });
      try {
        for (const url of [`http://127.0.0.1:${port}/`, `http://localhost:${port}/`]) {
          const error = await get(url, strict.for(new URL(url))).catch((e: unknown) => e);
          expect([url, isRefusedAddress(error)]).toEqual([url, true]);
        }
        expect(hits).toBe(0);
        expect(await get(`http://localhost:${port}/`, local.for(new URL(`http://localhost:${port}/`)))).toBe(200);
        expect(hits).toBe(1);
      } finally {
        strict.destroy();
        local.destroy();
      }
    });

    it('resolves once per connection and connects to what it checked (no second lookup a rebinding name could answer differently)', async () => {
      const strictResolver = counting();
      const strict = outgoingAgents({ lookup: strictResolver.lookup });
      const localResolver = counting();
      const local = outgoingAgents({ allowLoopback: true, lookup: localResolver.lookup });
      const url = `http://named.test:${port}/`;
      try {
        const refused = await get(url, strict.for(new URL(url))).catch((e: unknown) => e);
        expect([isRefusedAddress(refused), strictResolver.counter.calls]).toEqual([true, 1]);
        const before = hits;
        expect(await get(url, local.for(new URL(url)))).toBe(200);
        expect([hits - before, localResolver.counter.calls]).toEqual([1, 1]);
      } finally {
        strict.destroy();
        local.destroy();
      }
    });
  });
});
