import { createHash, randomBytes } from 'node:crypto';

/** `admin` manages keys, sub-accounts and their credit; a key grants at most its own scopes. */
export const SCOPES = ['send', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
/** What `keys create` gives when no scopes are named, as before `admin` existed. */
export const DEFAULT_KEY_SCOPES: readonly Scope[] = ['send', 'read'];

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomToken(length: number): string {
  // 248 is the largest multiple of 62 below 256: rejecting bytes above it keeps the draw uniform.
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248 && out.length < length) out += ALPHABET[byte % 62];
    }
  }
  return out;
}

export type GeneratedKey = { key: string; prefix: string; hash: string };

/** `sgw_live_Ab12Cd34_<secret>`: the part before the last underscore is the visible prefix. */
export function generateApiKey(mode: 'live' | 'test'): GeneratedKey {
  const prefix = `sgw_${mode}_${randomToken(8)}`;
  const key = `${prefix}_${randomToken(40)}`;
  return { key, prefix, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

const KEY_SHAPE = /^sgw_(live|test)_[A-Za-z0-9]{8}_[A-Za-z0-9]{40}$/;

export function looksLikeApiKey(value: string): boolean {
  return KEY_SHAPE.test(value);
}

export function parseScopes(list: string): Scope[] {
  const scopes = list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const scope of scopes) {
    if (!isScope(scope)) {
      throw new Error(`unknown scope "${scope}" (known: ${SCOPES.join(', ')})`);
    }
  }
  if (scopes.length === 0) throw new Error('at least one scope is needed');
  return [...new Set(scopes)] as Scope[];
}
