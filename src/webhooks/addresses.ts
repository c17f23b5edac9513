import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import { GatewayError } from '../shared/errors.ts';

export type ResolvedAddress = { address: string; family: number };

/** Every address a host name stands for (the system resolver, /etc/hosts included). */
export type ResolveHost = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: ResolveHost = (hostname) => lookup(hostname, { all: true, verbatim: true });

/**
 * Whether an address is on the public internet: not loopback, private, link-local (the cloud
 * metadata services at 169.254.169.254 and fd00:ec2::254 among them), carrier-grade NAT,
 * unique-local, multicast, reserved or unspecified, nor an IPv6 form of one of those.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return parsed.range() === 'unicast';
}

export class BlockedAddress extends Error {
  constructor(
    readonly host: string,
    readonly address: string,
  ) {
    super(`${host} resolves to ${address}, which is not a public address`);
  }
}

/**
 * The address to connect to for `url`, checked: every address the host resolves to must be
 * public unless `allowPrivate`. The request then connects to exactly this address, so a name
 * that resolves differently a moment later (DNS rebinding) changes nothing.
 */
export async function checkedAddress(url: URL, resolve: ResolveHost, allowPrivate: boolean): Promise<ResolvedAddress> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = ipaddr.isValid(host) ? [{ address: host, family: host.includes(':') ? 6 : 4 }] : await resolve(host);
  if (addresses.length === 0) throw new Error(`${host} does not resolve`);
  const blocked = allowPrivate ? undefined : addresses.find((a) => !isPublicAddress(a.address));
  if (blocked) throw new BlockedAddress(host, blocked.address);
  return addresses[0]!;
}

/** Checks an endpoint URL when it is registered: http(s), no credentials, a host that resolves to public addresses. */
export async function assertWebhookUrl(text: string, resolve: ResolveHost, allowPrivate: boolean): Promise<URL> {
  const refuse = (why: string) => new GatewayError('INVALID_WEBHOOK_URL', `url: ${why}`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw refuse('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refuse('only http and https URLs are taken');
  if (url.username || url.password) throw refuse('credentials do not belong in the URL');
  if (text.length > 2048) throw refuse('at most 2048 characters');
  try {
    await checkedAddress(url, resolve, allowPrivate);
  } catch (error) {
    throw refuse(error instanceof BlockedAddress ? error.message : `${url.hostname} does not resolve`);
  }
  return url;
}
