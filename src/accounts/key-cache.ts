import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Db } from '../db/client.ts';
import { sqlOf } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import type { Caller } from './caller.ts';

export const REVOCATION_CHANNEL = 'sms_gateway_api_key_revoked';
/** Announced by the database when an account is suspended (migration 20261206200000). */
export const SUSPENSION_CHANNEL = 'sms_gateway_account_suspended';

/** Long enough to spare the database a query per request; short enough to bound a missed revocation. */
const TTL_MS = 10_000;
const MAX_KEYS = 50_000;

/**
 * Callers by key hash (and, for access tokens, by key id), so that authenticating a request
 * costs no query. Every revocation and every suspension of an account is announced by the
 * database when it commits (triggers on api_keys and accounts) and evicts the keys concerned
 * here; while this process cannot hear those announcements, nothing is cached.
 */
export class ApiKeyCache extends EventEmitter<{ revoked: [apiKeyId: string]; suspended: [accountId: string]; listening: [] }> {
  private readonly byHash = new Map<string, { caller: Caller; expiresAt: number }>();
  private listening = false;

  /** Whether this process hears revocations, and so caches keys. */
  get isListening(): boolean {
    return this.listening;
  }

  get(hash: string): Caller | undefined {
    const entry = this.byHash.get(hash);
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.caller;
    this.byHash.delete(hash);
    return undefined;
  }

  set(hash: string, caller: Caller): void {
    if (!this.listening) return;
    // Insertion order is age order: the oldest goes first.
    if (this.byHash.size >= MAX_KEYS) this.byHash.delete(this.byHash.keys().next().value!);
    this.byHash.set(hash, { caller, expiresAt: Date.now() + TTL_MS });
  }

  revoked(apiKeyId: string): void {
    for (const [hash, entry] of this.byHash) if (entry.caller.apiKeyId === apiKeyId) this.byHash.delete(hash);
    this.emit('revoked', apiKeyId);
  }

  /** Every key of the account stops: they are asked of the database again, which refuses them. */
  suspended(accountId: string): void {
    for (const [hash, entry] of this.byHash) if (entry.caller.accountId === accountId) this.byHash.delete(hash);
    this.emit('suspended', accountId);
  }

  /** Whether announcements reach this process; a gap in hearing them forgets everything cached. */
  setListening(listening: boolean): void {
    this.listening = listening;
    this.byHash.clear();
    if (listening) this.emit('listening');
  }
}

const caches = new WeakMap<Db, ApiKeyCache>();

/** The cache of the keys of the database behind `db` (one per client, shared by all who use it). */
export function keyCacheOf(db: Db): ApiKeyCache {
  let cache = caches.get(db);
  if (!cache) {
    cache = new ApiKeyCache();
    caches.set(db, cache);
  }
  return cache;
}

/**
 * Listens for the database's announcements of revocations and suspensions on a connection of
 * its own (LISTEN holds it), reconnecting when it drops. Returns the stop.
 */
export function listenForRevocations(db: Db, logger: Logger): () => Promise<void> {
  const cache = keyCacheOf(db);
  const { pool } = sqlOf(db);
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let delayMs = 100;

  const reconnect = () => {
    cache.setListening(false);
    client = undefined;
    if (stopped) return;
    retry = setTimeout(() => void connect(), delayMs);
    delayMs = Math.min(delayMs * 2, 5000);
  };
  async function connect() {
    const next = new pg.Client(pool.options);
    next.on('error', () => undefined);
    next.on('end', () => {
      if (client === next) reconnect();
    });
    next.on('notification', (message) => {
      if (!message.payload) return;
      if (message.channel === REVOCATION_CHANNEL) cache.revoked(message.payload);
      if (message.channel === SUSPENSION_CHANNEL) cache.suspended(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${REVOCATION_CHANNEL}; LISTEN ${SUSPENSION_CHANNEL}`);
    } catch (error) {
      logger.debug({ err: error }, 'cannot listen for API key revocations and suspensions yet; keys are checked on every request');
      await next.end().catch(() => undefined);
      reconnect();
      return;
    }
    if (stopped) {
      await next.end().catch(() => undefined);
      return;
    }
    client = next;
    delayMs = 100;
    cache.setListening(true);
  }
  void connect();
  return async () => {
    stopped = true;
    clearTimeout(retry);
    cache.setListening(false);
    const current = client;
    client = undefined;
    await current?.end().catch(() => undefined);
  };
}
