import { isIP } from 'node:net';

/** The URL a provider reports to: `POST <base>/callbacks/<provider>?token=<secret>`, as the callback route takes it. */
export function callbackUrl(baseUrl: string, provider: string, secret: string): string {
  return `${baseUrl.replace(/\/+$/, '')}/callbacks/${provider}?token=${encodeURIComponent(secret)}`;
}

/** Where providers reach the gateway: PUBLIC_URL, or this machine's loopback at `port`. */
export function callbackBase(publicUrl: string | undefined, port: number): string {
  return publicUrl ?? `http://127.0.0.1:${port}`;
}

/** A URL only this machine can reach. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return false;
  }
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.') || host === '0.0.0.0';
  return isIP(host) === 6 && (host === '::1' || host === '::');
}
