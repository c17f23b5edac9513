import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom, type Clock, type Random } from '../../shared/random.ts';

/**
 * The common part of the upstream simulators: an HTTP server on loopback that records what it
 * receives, answers through the provider's routes, can be told to misbehave, and calls back.
 * Each provider's simulator (src/providers/<name>/simulator.ts) adds its documented routes.
 */

export type SimulatedOutcome = 'DELIVERED' | 'FAILED' | 'EXPIRED' | 'REJECTED';

/** Faults that apply to the next `times` matching requests (all requests, or those under `path`). */
export type Fault =
  | { kind: 'http500' }
  | { kind: 'http429'; retryAfterSeconds: number }
  /** Never answers; the connection is dropped after a minute or when the simulator stops. */
  | { kind: 'timeout' }
  /** Answers normally, late. */
  | { kind: 'slow'; delayMs: number }
  /** A 200 whose body is not the documented JSON. */
  | { kind: 'malformed' }
  /** Handles the request (a submission is taken), then drops the connection instead of answering. */
  | { kind: 'drop' };

export type FaultRule = Fault & { times: number; path?: string };

export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  rawBody: string;
  at: Date;
};

export type SimRequest = RecordedRequest & { params: Record<string, string> };
export type SimResponse = { status: number; body: unknown; headers?: Record<string, string> };
export type RouteHandler = (request: SimRequest) => SimResponse | Promise<SimResponse>;

/** A report the simulator sent; `pending` until the gateway has answered it. */
export type SentCallback = { url: string; body: unknown; status: number | 'error' | 'pending'; at: Date };

export type SimulatorOptions = {
  port?: number;
  host?: string;
  /** Delay between accepting a message and its final status (report or status change). */
  reportDelayMs?: number;
  /** The fate of each recipient (and text, where a simulator tells); by default decided by the last digit (see lastDigitOutcome). */
  outcomeFor?: (recipient: string, text?: string) => SimulatedOutcome;
  /** How the provider behaves over time, on top of `outcomeFor` (also settable at POST /__simulator/scenario). */
  scenario?: Scenario;
  /** The scenario's clock (tests move it by hand); the report delay itself is real time. */
  clock?: Clock;
};

/** What a scenario sets; each change sets some of it again. */
export type ScenarioSettings = {
  /** Of the messages `outcomeFor` would deliver, the share DELIVERED; the others end as `failAs`. */
  deliveryRatio?: number;
  failAs?: Extract<SimulatedOutcome, 'FAILED' | 'EXPIRED'>;
  /** Delay between accepting a message and its final status. */
  reportDelayMs?: number;
};

/**
 * A provider that misbehaves on demand: a delivery ratio, a report delay, and changes to them
 * from a given time on (ms after the scenario was set, by its clock), e.g. accepted then FAILED
 * for 40% from the tenth minute: {"deliveryRatio": 1, "changes": [{"atMs": 600000, "deliveryRatio": 0.6}]}.
 */
export type Scenario = ScenarioSettings & {
  changes?: Array<ScenarioSettings & { atMs: number }>;
  /** Seeds the draws that decide which messages fail (default 1): the same scenario, the same fates. */
  seed?: number;
};

/**
 * The same rules as the built-in sandbox, so a number behaves alike everywhere:
 * 7 rejected at submission, 8 failed, 9 expired, anything else delivered.
 */
export function lastDigitOutcome(recipient: string): SimulatedOutcome {
  const last = recipient.replace(/\D/g, '').slice(-1);
  if (last === '7') return 'REJECTED';
  if (last === '8') return 'FAILED';
  if (last === '9') return 'EXPIRED';
  return 'DELIVERED';
}

/** A configurable mix of outcomes, stable per recipient (the same number always gets the same fate). */
export function mixedOutcomes(mix: Partial<Record<SimulatedOutcome, number>>): (recipient: string) => SimulatedOutcome {
  const entries = Object.entries(mix) as Array<[SimulatedOutcome, number]>;
  const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
  return (recipient) => {
    let hash = 0;
    for (const ch of recipient) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
    let point = ((hash % 10_000) / 10_000) * total;
    for (const [outcome, weight] of entries) {
      if (point < weight) return outcome;
      point -= weight;
    }
    return 'DELIVERED';
  };
}

type Route = { method: string; pattern: RegExp; keys: string[]; handler: RouteHandler };

const ADMIN = '/__simulator';
const FAULT_KINDS: ReadonlyArray<Fault['kind']> = ['http500', 'http429', 'timeout', 'slow', 'malformed', 'drop'];

/** Emits `request` for every request received on the provider's routes, and `callback` for every report sent. */
export class SimulatorServer extends EventEmitter<{ request: [RecordedRequest]; callback: [SentCallback] }> {
  readonly received: RecordedRequest[] = [];
  /** Provider-side settings a dashboard would hold (Mifumo's webhook URL...); set with POST /__simulator/settings. */
  readonly settings: Record<string, unknown> = {};
  readonly callbacks: SentCallback[] = [];
  readonly outcomeFor: (recipient: string, text?: string) => SimulatedOutcome;
  private readonly clock: Clock;
  private scenario: { settings: Scenario; since: number; draw: Random } | undefined;
  private readonly routes: Route[] = [];
  private readonly settingListeners: Array<(settings: Record<string, unknown>) => void> = [];
  private faults: FaultRule[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly hanging = new Set<ServerResponse>();
  private readonly server: Server;
  private baseUrl: string | undefined;

  constructor(
    readonly name: string,
    private readonly options: SimulatorOptions = {},
  ) {
    super();
    const outcomeOf = options.outcomeFor ?? lastDigitOutcome;
    this.outcomeFor = (recipient, text) => this.underScenario(outcomeOf(recipient, text));
    this.clock = options.clock ?? Date.now;
    if (options.scenario) this.setScenario(options.scenario);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Delay between accepting a message and its final status, as the scenario has it now. */
  get reportDelayMs(): number {
    return this.scenarioNow().reportDelayMs ?? this.options.reportDelayMs ?? 200;
  }

  /** Starts `scenario` now (its changes count from now); undefined: behave as configured. */
  setScenario(scenario: Scenario | undefined): void {
    this.scenario = scenario && { settings: scenario, since: this.clock(), draw: seededRandom(scenario.seed ?? 1) };
  }

  /** The scenario's settings with every change due by now applied. */
  scenarioNow(): ScenarioSettings {
    if (!this.scenario) return {};
    const elapsed = this.clock() - this.scenario.since;
    const { changes = [], seed: _, ...settings } = this.scenario.settings;
    const now: ScenarioSettings = { ...settings };
    for (const { atMs, ...change } of [...changes].sort((a, b) => a.atMs - b.atMs)) if (atMs <= elapsed) Object.assign(now, change);
    return now;
  }

  private underScenario(outcome: SimulatedOutcome): SimulatedOutcome {
    if (outcome !== 'DELIVERED' || !this.scenario) return outcome;
    const { deliveryRatio = 1, failAs = 'FAILED' } = this.scenarioNow();
    return this.scenario.draw() < deliveryRatio ? 'DELIVERED' : failAs;
  }

  get url(): string {
    if (!this.baseUrl) throw new Error(`${this.name} simulator is not started`);
    return this.baseUrl;
  }

  /** Registers a route; `:name` segments become `params.name`. */
  route(method: string, path: string, handler: RouteHandler): this {
    const keys: string[] = [];
    const pattern = new RegExp(
      `^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:(\w+)/g, (_m, key: string) => {
        keys.push(key);
        return '([^/]+)';
      })}$`,
    );
    this.routes.push({ method, pattern, keys, handler });
    return this;
  }

  /** Changes provider-side settings (a dashboard's webhook URL, the account's balance...). */
  configure(settings: Record<string, unknown>): void {
    Object.assign(this.settings, settings);
    for (const listener of this.settingListeners) listener(settings);
  }

  /** Lets a provider's simulator act on settings it understands (its balance). */
  onSettings(listener: (settings: Record<string, unknown>) => void): void {
    this.settingListeners.push(listener);
  }

  injectFault(rule: FaultRule): void {
    this.faults.push({ ...rule });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** Requests received on the provider's routes (not the admin ones), optionally only under `path`. */
  requests(path?: string): RecordedRequest[] {
    return path ? this.received.filter((r) => r.path.startsWith(path)) : [...this.received];
  }

  /** Runs `task` after `delayMs`, unless the simulator stops first. */
  later(delayMs: number, task: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void Promise.resolve()
        .then(task)
        .catch(() => undefined);
    }, delayMs);
    this.timers.add(timer);
  }

  /** POSTs a delivery report to the gateway the way the provider would, and records the answer. */
  async callBack(url: string, body: unknown): Promise<void> {
    const entry: SentCallback = { url, body, status: 'pending', at: new Date() };
    this.callbacks.push(entry);
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      entry.status = response.status;
    } catch {
      entry.status = 'error';
    }
    this.emit('callback', entry);
  }

  /** Resolves once `count` callbacks have been answered (the gateway may act on one before its answer arrives here). */
  async callbacksAnswered(count: number): Promise<SentCallback[]> {
    while (this.callbacks.filter((c) => c.status !== 'pending').length < count) await once(this, 'callback');
    return this.callbacks;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const address = this.server.address() as AddressInfo;
    this.baseUrl = `http://${this.options.host ?? '127.0.0.1'}:${address.port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    const rawBody = await readBody(req);
    const request: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parseBody(rawBody, req.headers['content-type']),
      rawBody,
      at: new Date(),
    };
    if (request.path.startsWith(ADMIN)) return send(res, this.admin(request));
    this.received.push(request);
    this.emit('request', request);

    const fault = this.takeFault(request.path);
    if (fault?.kind === 'timeout') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
      this.later(60_000, () => void res.destroy());
      return;
    }
    if (fault?.kind === 'http500') return send(res, { status: 500, body: { error: 'Internal Server Error' } });
    if (fault?.kind === 'http429') {
      return send(res, {
        status: 429,
        body: { error: 'Too Many Requests' },
        headers: { 'retry-after': String(fault.retryAfterSeconds) },
      });
    }
    if (fault?.kind === 'slow') await new Promise((resolve) => this.later(fault.delayMs, () => resolve(undefined)));

    const route = this.routes.find((r) => r.method === request.method && r.pattern.test(request.path));
    if (!route) return send(res, { status: 404, body: { error: 'Not Found' } });
    const match = route.pattern.exec(request.path)!;
    const params = Object.fromEntries(route.keys.map((key, i) => [key, decodeURIComponent(match[i + 1]!)]));
    let response: SimResponse;
    try {
      response = await route.handler({ ...request, params });
    } catch (error) {
      response = { status: 500, body: { error: String(error) } };
    }
    if (fault?.kind === 'drop') {
      res.destroy();
      return;
    }
    if (fault?.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status": "succ');
      return;
    }
    send(res, response);
  }

  private takeFault(path: string): Fault | undefined {
    const rule = this.faults.find((f) => f.times > 0 && (!f.path || path.startsWith(f.path)));
    if (!rule) return undefined;
    rule.times -= 1;
    if (rule.times <= 0) this.faults = this.faults.filter((f) => f !== rule);
    return rule;
  }

  /** Control endpoints, for tests and for people trying the gateway by hand. */
  private admin(request: RecordedRequest): SimResponse {
    const path = request.path.slice(ADMIN.length);
    // Control bodies are JSON whatever the content type says: `curl -d '{...}'` sends it as a form.
    const body = parseJson(request.rawBody);
    if (request.method === 'GET' && path === '/requests') return { status: 200, body: this.received };
    if (request.method === 'GET' && path === '/callbacks') return { status: 200, body: this.callbacks };
    if (request.method === 'POST' && path === '/faults') {
      const rule = body as FaultRule;
      if (!rule || typeof rule !== 'object' || !FAULT_KINDS.includes(rule.kind)) {
        return { status: 400, body: { error: `expected {"kind": "${FAULT_KINDS.join('|')}", "times": n}` } };
      }
      this.injectFault({ ...rule, times: rule.times ?? 1 });
      return { status: 200, body: { faults: this.faults } };
    }
    if (request.method === 'POST' && path === '/scenario') {
      const problem = scenarioProblem(body);
      if (problem) return { status: 400, body: { error: problem } };
      this.setScenario(body === null ? undefined : (body as Scenario));
      return { status: 200, body: { scenario: this.scenario?.settings ?? null, now: this.scenarioNow() } };
    }
    if (request.method === 'GET' && path === '/scenario') return { status: 200, body: { scenario: this.scenario?.settings ?? null, now: this.scenarioNow() } };
    if (request.method === 'POST' && path === '/settings' && body && typeof body === 'object') {
      this.configure(body as Record<string, unknown>);
      return { status: 200, body: this.settings };
    }
    if (request.method === 'DELETE' && path === '/faults') {
      this.clearFaults();
      return { status: 200, body: { faults: [] } };
    }
    return { status: 404, body: { error: 'unknown simulator control endpoint' } };
  }
}

/** Why a control body is not a scenario (null clears it), or undefined. */
export function scenarioProblem(body: unknown): string | undefined {
  if (body === null) return undefined;
  if (!body || typeof body !== 'object') return 'expected {"deliveryRatio": 0..1, "failAs": "FAILED|EXPIRED", "reportDelayMs": n, "changes": [{"atMs": n, ...}], "seed": n}';
  const settings = (s: Record<string, unknown>): string | undefined => {
    if (s.deliveryRatio !== undefined && !(typeof s.deliveryRatio === 'number' && s.deliveryRatio >= 0 && s.deliveryRatio <= 1)) return 'deliveryRatio: a number from 0 to 1';
    if (s.failAs !== undefined && s.failAs !== 'FAILED' && s.failAs !== 'EXPIRED') return 'failAs: FAILED or EXPIRED';
    if (s.reportDelayMs !== undefined && !(typeof s.reportDelayMs === 'number' && s.reportDelayMs >= 0)) return 'reportDelayMs: a number of ms';
    return undefined;
  };
  const scenario = body as Record<string, unknown>;
  const problem = settings(scenario);
  if (problem) return problem;
  if (scenario.changes === undefined) return undefined;
  if (!Array.isArray(scenario.changes)) return 'changes: a list of {"atMs": n, ...settings}';
  for (const change of scenario.changes as unknown[]) {
    if (!change || typeof change !== 'object' || typeof (change as { atMs?: unknown }).atMs !== 'number') return 'changes: each needs "atMs"';
    const wrong = settings(change as Record<string, unknown>);
    if (wrong) return `changes: ${wrong}`;
  }
  return undefined;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseBody(raw: string, contentType: string | undefined): unknown {
  if (raw && contentType?.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  return parseJson(raw);
}

function parseJson(raw: string): unknown {
  if (!raw) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function send(res: ServerResponse, response: SimResponse): void {
  const body = typeof response.body === 'string' ? response.body : JSON.stringify(response.body);
  res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
  res.end(body);
}
