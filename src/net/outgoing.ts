import dns, { type LookupAddress } from 'node:dns';
import http from 'node:http';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';

/**
 * Outgoing requests to URLs a tenant supplied (today: Web Push endpoints) must never reach inside
 * our own network. The rules, one module for the API's input check and the worker's send:
 *
 * 1. The URL is `https` and carries no credentials.
 * 2. Its host, when it is an IP literal (or `localhost`), is a public address: known at input, so
 *    the API refuses it with a 400 naming the field.
 * 3. At send time, always: the host name is resolved, every address it resolves to must be public,
 *    and the connection goes to the checked address (the check runs inside the agent's DNS lookup,
 *    so a name that resolves differently a second time, DNS rebinding, cannot switch it). Our
 *    lookup checks every answer against these rules; request-filtering-agent checks the address
 *    again as it connects, IP literals included.
 *
 * Public means ipaddr.js's `unicast` range and none of NON_PUBLIC_EXTRA: not loopback, private
 * (RFC 1918), link-local, unique-local (fc00::/7), site-local, multicast, broadcast, unspecified,
 * carrier-grade NAT (100.64/10), reserved and documentation ranges, nor IPv6 forms that embed an
 * IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96, 6to4, Teredo).
 *
 * `allowLoopback` (OUTGOING_ALLOW_LOOPBACK, tests and development only, refused in production)
 * also lets `http` URLs and loopback addresses (127/8, ::1) through: the local push service the
 * tests run. Nothing else private.
 */
export interface OutgoingPolicy {
  allowLoopback?: boolean;
  /** The DNS resolver (default dns.lookup); every address it returns is checked. */
  lookup?: LookupFunction;
}

/** Unicast by ipaddr.js, but not to be reached from here. */
const NON_PUBLIC_EXTRA = ['::/96'];
const LOOPBACK = ['127.0.0.0/8', '::1/128'];
const extra = NON_PUBLIC_EXTRA.map((cidr) => ipaddr.parseCIDR(cidr));

/** A public internet address (see the rules above); false for anything that is not an IP address. */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  const parsed = ipaddr.parse(address);
  if (parsed.range() !== 'unicast') return false;
  return !extra.some(([network, bits]) => parsed.kind() === network.kind() && parsed.match(network, bits));
}

const isLoopback = (address: string) => ipaddr.isValid(address) && ipaddr.parse(address).range() === 'loopback';
const LOCALHOST = /^(localhost|.+\.localhost)\.?$/i;

/**
 * Why a URL may not be called (rules 1 and 2), or null when it may. Host names are left to the
 * send-time check (3): what they resolve to is not knowable here.
 */
export function outgoingUrlProblem(url: string, policy: OutgoingPolicy = {}): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'must be a URL';
  }
  const plainAllowed = parsed.protocol === 'http:' && policy.allowLoopback;
  if (parsed.protocol !== 'https:' && !plainAllowed) return 'must be an https URL';
  if (parsed.username || parsed.password) return 'must not carry credentials';
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (LOCALHOST.test(host)) return policy.allowLoopback ? null : 'must not point at this host (localhost)';
  if (ipaddr.isValid(host) && !isPublicAddress(host) && !(policy.allowLoopback && isLoopback(host)))
    return 'must not point at a loopback, private or otherwise non-public address';
  return null;
}

/** A host name resolved to an address the rules refuse (nothing was sent to it). */
export class RefusedAddressError extends Error {
  readonly code = 'EREFUSEDADDRESS';
  constructor(readonly hostname: string) {
    super(`${hostname} resolves to an address that is not public`);
    this.name = 'RefusedAddressError';
  }
}

const allowedAddress = (address: string, policy: OutgoingPolicy) =>
  isPublicAddress(address) || (!!policy.allowLoopback && isLoopback(address));

/** Resolves every address of a name and refuses the name if any of them is not allowed; the connection uses what was checked. */
function checkedLookup(policy: OutgoingPolicy): LookupFunction {
  const resolve = policy.lookup ?? dns.lookup;
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (error, answers) => {
      if (error) return callback(error, '', 0);
      const addresses = answers as unknown as LookupAddress[];
      if (addresses.length === 0 || addresses.some((a) => !allowedAddress(a.address, policy)))
        return callback(new RefusedAddressError(hostname), '', 0);
      if (options.all) return (callback as (e: null, a: LookupAddress[]) => void)(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/**
 * The agents that enforce rule 3, one for https and one for http (an http URL passes rule 1 only
 * with allowLoopback), made once per caller so that connections are kept alive and reused.
 */
export function outgoingAgents(policy: OutgoingPolicy = {}): { for(url: URL): http.Agent; destroy(): void } {
  const options = {
    keepAlive: true,
    allowIPAddressList: policy.allowLoopback ? LOOPBACK : [],
    lookup: checkedLookup(policy),
  };
  const secure = new RequestFilteringHttpsAgent(options);
  const plain = new RequestFilteringHttpAgent(options);
  return {
    for: (url) => (url.protocol === 'http:' ? plain : secure),
    destroy: () => {
      secure.destroy();
      plain.destroy();
    },
  };
}

/** The connection was refused by the rules: our lookup, or request-filtering-agent's check as it connected. */
export function isRefusedAddress(error: unknown): boolean {
  return error instanceof RefusedAddressError || /^DNS lookup .* is not allowed\b/.test((error as Error)?.message ?? '');
}

/** `HTTP 404 Not Found`: the status and its standard reason phrase, never a word the remote chose. */
export const statusLine = (status: number) => `HTTP ${status}${http.STATUS_CODES[status] ? ` ${http.STATUS_CODES[status]}` : ''}`;
