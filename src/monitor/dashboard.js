// What the dashboard knows: counts, outcomes per provider, changes per second and the latest
// deliveries. Seeded from the server's summary, then moved on by every update after the
// summary's cursor (and only those: each is counted once). No DOM here.

export const FINAL_STATUSES = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELED'];
const RANK = { SCHEDULED: 0, QUEUED: 1, SENT: 2 };
const rankOf = (status) => RANK[status] ?? 3;
const isAcceptance = (status) => status === 'QUEUED' || status === 'SCHEDULED';

/** Tiles: waiting (queued or scheduled), at a provider (SENT), and each final status. */
export const tileOf = (status) => (isAcceptance(status) ? 'WAITING' : status);
/** Chart series: acceptance, then each status reached. */
export const seriesOf = (status) => (isAcceptance(status) ? 'ACCEPTED' : status);

/**
 * Where a delivery stood before this update, from the update alone: statuses only move forward,
 * and a delivery a provider took has `sentAt`, so whatever follows SENT came from SENT.
 */
function previousTile(delivery) {
  if (isAcceptance(delivery.status)) return null;
  return delivery.sentAt && delivery.status !== 'SENT' ? 'SENT' : 'WAITING';
}

const MAX_ROWS = 2000;
export const TIMELINE_SECONDS = 300;

export class Dashboard {
  constructor() {
    this.since = 0;
    this.clockOffsetMs = 0;
    this.tiles = new Map();
    this.providers = new Map();
    this.perSecond = new Map();
    this.rows = [];
    this.byId = new Map();
    this.updatesShown = 0;
    this.providersSeen = new Set();
    this.statusesSeen = new Set();
    this.version = 0;
  }

  /** The server's summary: counts of deliveries accepted since `since`, as of its cursor. */
  seed(summary) {
    this.since = Date.parse(summary.since);
    this.clockOffsetMs = Date.parse(summary.until) - Date.now();
    this.tiles.clear();
    this.providers.clear();
    this.perSecond.clear();
    for (const { status, count } of summary.byStatus) {
      this.add(this.tiles, 'ACCEPTED', count);
      this.add(this.tiles, tileOf(status), count);
      this.statusesSeen.add(status);
    }
    for (const { provider, status, count } of summary.byProvider) {
      if (provider) this.providersSeen.add(provider);
      if (FINAL_STATUSES.includes(status)) this.add(this.outcomesOf(provider), status, count);
    }
    for (const { start, status, count } of summary.timeline) {
      this.add(this.secondOf(Math.floor(Date.parse(start) / 1000)), seriesOf(status), count);
    }
    this.version += 1;
  }

  /** The latest deliveries as read after the summary; updates that follow only move them forward. */
  seedRows(deliveries) {
    for (const d of deliveries) this.upsertRow({ ...d, messageId: d.message.id, changedAt: d.updatedAt });
    this.version += 1;
  }

  apply(update) {
    const d = update.delivery;
    if (Date.parse(d.createdAt) >= this.since) {
      const from = previousTile(d);
      if (from) this.add(this.tiles, from, -1);
      else this.add(this.tiles, 'ACCEPTED', 1);
      this.add(this.tiles, tileOf(d.status), 1);
      if (FINAL_STATUSES.includes(d.status)) this.add(this.outcomesOf(d.provider), d.status, 1);
    }
    this.add(this.secondOf(Math.floor(Date.parse(update.occurredAt) / 1000)), seriesOf(d.status), 1);
    this.upsertRow({ ...d, messageId: update.messageId, changedAt: update.occurredAt });
    this.updatesShown += 1;
    this.version += 1;
  }

  /** The server's clock, in seconds: the chart's window follows it, not this machine's. */
  nowSeconds() {
    return Math.floor((Date.now() + this.clockOffsetMs) / 1000);
  }

  /** [x, ...one array per series] over the last TIMELINE_SECONDS, for the chart. */
  timeline(seriesNames) {
    const end = this.nowSeconds();
    const start = end - TIMELINE_SECONDS + 1;
    for (const second of this.perSecond.keys()) if (second < start) this.perSecond.delete(second);
    const xs = [];
    const ys = seriesNames.map(() => []);
    for (let second = start; second <= end; second += 1) {
      xs.push(second);
      const counts = this.perSecond.get(second);
      seriesNames.forEach((name, i) => ys[i].push(counts?.get(name) ?? 0));
    }
    return [xs, ...ys];
  }

  upsertRow(row) {
    this.providersSeen.add(row.provider ?? '');
    this.statusesSeen.add(row.status);
    const known = this.byId.get(row.id);
    if (known) {
      const newer = rankOf(row.status) > rankOf(known.status) || (row.status === known.status && row.changedAt > known.changedAt);
      if (newer) Object.assign(known, row, { version: known.version + 1 });
      return;
    }
    // Ids are base64 of `Delivery:<uuid v7>`: decoded, they sort as the deliveries were made.
    const entry = { ...row, version: 0, order: `${row.createdAt} ${atob(row.id)}` };
    this.byId.set(row.id, entry);
    // Newest accepted first; updates almost always concern the newest, so look from the top.
    let at = 0;
    while (at < this.rows.length && isBefore(this.rows[at], entry)) at += 1;
    this.rows.splice(at, 0, entry);
    while (this.rows.length > MAX_ROWS) this.byId.delete(this.rows.pop().id);
  }

  outcomesOf(provider) {
    const name = provider ?? '';
    if (!this.providers.has(name)) this.providers.set(name, new Map());
    return this.providers.get(name);
  }

  secondOf(second) {
    if (!this.perSecond.has(second)) this.perSecond.set(second, new Map());
    return this.perSecond.get(second);
  }

  add(map, key, n) {
    map.set(key, (map.get(key) ?? 0) + n);
  }
}

/** Whether row `a` is listed above `b`: made later. */
const isBefore = (a, b) => a.order > b.order;
