import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Which addresses a tenant-supplied URL may reach: public ones only. Loopback, private, carrier-grade NAT,
 * link-local (cloud metadata services live at 169.254.169.254 and fd00:ec2::254), multicast, reserved and
 * documentation ranges are refused, also through a hostname, and also when the name resolves differently at
 * connect time than it did when the mission was submitted (publicOnlyLookup checks the address connected to).
 */
const NOT_PUBLIC = new BlockList();
const V4: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const V6: [string, number][] = [
  // Unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d, which some stacks still route.
  ['::', 96],
  // 6to4 and local-use NAT64 embed an IPv4 address a relay or translator would take us to.
  ['2002::', 16],
  ['64:ff9b:1::', 48],
  ['fec0::', 10],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['2001:db8::', 32],
];
for (const [network, prefix] of V4) NOT_PUBLIC.addSubnet(network, prefix, 'ipv4');
for (const [network, prefix] of V6) NOT_PUBLIC.addSubnet(network, prefix, 'ipv6');

/** An IPv4 address carried in IPv6 (::ffff:a.b.c.d, or NAT64's 64:ff9b::/96), as IPv4. */
function embeddedIpv4(address: string): string | undefined {
  const match = /^(?:::ffff:|64:ff9b::)(.+)$/i.exec(address);
  if (!match) return undefined;
  const rest = match[1]!;
  if (isIP(rest) === 4) return rest;
  const groups = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(rest);
  if (!groups) return undefined;
  const [high, low] = [parseInt(groups[1]!, 16), parseInt(groups[2]!, 16)];
  return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
}

export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const v4 = family === 6 ? embeddedIpv4(address) : address;
  return v4 ? !NOT_PUBLIC.check(v4, 'ipv4') : !NOT_PUBLIC.check(address, 'ipv6');
}

export type ResolveAll = (hostname: string) => Promise<LookupAddress[]>;

/** A submission waits this long at most for a tenant URL's host to resolve, its wait for a turn included. */
const RESOLVE_TIMEOUT_MS = 3_000;
/**
 * Lookups of tenants' hosts in flight at once in this process. dns.lookup runs on libuv's thread pool, which runs
 * at most two lookups at a time (half its four threads) for every caller in the process, and a silent nameserver
 * holds one for the system resolver's whole timeout: one is always left for the process's own connections.
 */
const LOOKUPS_AT_ONCE = 1;
let lookupsInFlight = 0;
const waitingForLookup: (() => void)[] = [];

export const resolveTenantHost: ResolveAll = (hostname) =>
  new Promise((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      reject(new Error('timed out'));
    }, RESOLVE_TIMEOUT_MS);
    const start = () => {
      // A lookup whose submission stopped waiting while it queued is never sent.
      if (timedOut) return nextLookup();
      lookupsInFlight++;
      dnsLookup(hostname, { all: true }, (error, addresses) => {
        lookupsInFlight--;
        nextLookup();
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(addresses);
      });
    };
    if (lookupsInFlight < LOOKUPS_AT_ONCE) start();
    else waitingForLookup.push(start);
  });

function nextLookup(): void {
  if (lookupsInFlight < LOOKUPS_AT_ONCE) waitingForLookup.shift()?.();
}

/** The host of a URL without the brackets of an IPv6 literal. */
export const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '');

/**
 * Why a tenant may not send model calls to `url`, or undefined when it may: it must be https and reach only
 * public addresses, unless its origin is on the operator's allow-list.
 */
export async function refuseTenantUrl(url: string, allowlist: readonly string[], resolve: ResolveAll = resolveTenantHost): Promise<string | undefined> {
  const parsed = new URL(url);
  if (allowlist.includes(parsed.origin)) return undefined;
  if (parsed.protocol !== 'https:') return 'must be https (or an origin the operator allow-listed)';
  const host = hostOf(parsed);
  let addresses: string[];
  try {
    addresses = isIP(host) ? [host] : (await resolve(host)).map((entry) => entry.address);
  } catch {
    return `its host ${host} cannot be resolved`;
  }
  const refused = addresses.find((address) => !isPublicAddress(address));
  return refused === undefined ? undefined : `its host ${host} is not a public address (${refused})`;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that resolves as usual and fails when the answer holds an address that is not
 * public: the check is made on the addresses the socket is about to connect to.
 */
export function publicOnlyLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const refused = addresses.find((entry) => !isPublicAddress(entry.address));
    if (refused) {
      const denied = Object.assign(new Error(`refused to connect to ${hostname}: ${refused.address} is not a public address`), { code: 'ERR_NOT_PUBLIC' });
      return callback(denied, []);
    }
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}
