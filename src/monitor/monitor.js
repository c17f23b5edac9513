// The live operations dashboard: wires the key form, the connection, the charts, the table,
// its filters and the drill-down. Updates are applied as they arrive and drawn once per frame.
import { COLORS, createProviderChart, createRateChart, RATE_SERIES } from './charts.js';
import { connectMonitor } from './connection.js';
import { Dashboard, FINAL_STATUSES } from './dashboard.js';
import { createDrilldown } from './drilldown.js';
import { copyId, element, formatCount } from './format.js';
import { createRoutesPanel } from './routes.js';
import { createTable } from './table.js';

const $ = (id) => document.getElementById(id);
const KEY = 'monitor-key';
const STATE_TEXT = { idle: 'not connected', connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', 'wrong-key': 'wrong key', error: 'error' };
const TILES = [
  ['ACCEPTED', 'accepted'],
  ['WAITING', 'waiting'],
  ['SENT', 'at provider'],
  ['DELIVERED', 'delivered'],
  ['FAILED', 'failed'],
  ['EXPIRED', 'expired'],
  ['REJECTED', 'rejected'],
  ['CANCELED', 'canceled'],
];
// Drawing the table and tiles 10 times a second is as fast as anyone reads them, and leaves
// most frames to the browser: at 200 updates a second a redraw per frame starves it.
const DRAW_EVERY_MS = 100;
const CHART_EVERY_MS = 500;

let dashboard = new Dashboard();
let connection;
const rateChart = createRateChart($('rate-chart'));
const providerChart = createProviderChart($('provider-chart'));
const table = createTable({
  tbody: $('rows'),
  summary: $('shown'),
  filters: () => ({
    status: $('filter-status').value,
    provider: $('filter-provider').value,
    recipient: $('filter-recipient').value.replace(/\D/g, ''),
  }),
});
const drilldown = createDrilldown({ panel: $('drilldown'), body: $('drilldown-body'), close: $('drilldown-close') });
const routes = createRoutesPanel({ section: $('routes'), table: $('routes-table') });
// For a person (or a test) looking at the page from the console.
globalThis.monitor = { get dashboard() { return dashboard; }, rateChart: rateChart.chart, providerChart: providerChart.chart };

function setState(state, detail) {
  $('state').dataset.state = state;
  $('state').textContent = detail ? `${STATE_TEXT[state]}: ${detail}` : STATE_TEXT[state];
  $('forget').hidden = state === 'idle';
}

function renderSince() {
  const since = dashboard.since ? ` since ${new Date(dashboard.since).toTimeString().slice(0, 5)}` : ' in the last hour';
  for (const el of document.querySelectorAll('.since')) el.textContent = since;
}

function renderTiles() {
  const accepted = dashboard.tiles.get('ACCEPTED') ?? 0;
  $('tiles').replaceChildren(
    ...TILES.filter(([tile]) => tile !== 'CANCELED' || dashboard.tiles.get(tile)).map(([tile, label]) => {
      const n = dashboard.tiles.get(tile) ?? 0;
      const share = FINAL_STATUSES.includes(tile) && accepted > 0 ? `${((100 * n) / accepted).toFixed(1)}%` : '';
      return element(
        'div',
        { className: `tile ${tile}`, dataset: { tile } },
        element('span', { className: 'label', textContent: label }),
        element('strong', { textContent: formatCount(n) }),
        element('span', { className: 'share', textContent: share }),
      );
    }),
  );
}

function renderProviderTable() {
  const outcomes = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];
  const rows = [...dashboard.providers].sort(([a], [b]) => a.localeCompare(b));
  $('provider-table').replaceChildren(
    element('thead', {}, element('tr', {}, element('th', { textContent: 'provider' }), ...outcomes.map((s) => element('th', { className: s, textContent: s.toLowerCase() })), element('th', { textContent: 'delivered %' }))),
    element(
      'tbody',
      {},
      ...rows.map(([provider, counts]) => {
        const total = outcomes.reduce((sum, s) => sum + (counts.get(s) ?? 0), 0);
        return element(
          'tr',
          { dataset: { provider } },
          element('td', { textContent: provider || '(none)' }),
          ...outcomes.map((s) => element('td', { className: 'number', textContent: formatCount(counts.get(s) ?? 0) })),
          element('td', { className: 'number', textContent: total ? `${((100 * (counts.get('DELIVERED') ?? 0)) / total).toFixed(1)}%` : '' }),
        );
      }),
    ),
  );
}

/** Keeps each filter's choices to what has been seen, without losing the current choice. */
function fillOptions(select, values, label = (v) => v) {
  const have = new Set([...select.options].map((o) => o.value));
  for (const value of [...values].sort()) if (!have.has(value) && value) select.append(element('option', { value, textContent: label(value) }));
}

let drawn = -1;
let drawnAt = 0;
let chartsAt = 0;
let chartsVersion = -1;
function frame(now) {
  if (dashboard.version !== drawn && (drawn === -1 || now - drawnAt >= DRAW_EVERY_MS)) {
    drawn = dashboard.version;
    drawnAt = now;
    renderSince();
    renderTiles();
    table.render(dashboard.rows);
    fillOptions($('filter-status'), dashboard.statusesSeen);
    fillOptions($('filter-provider'), dashboard.providersSeen);
    $('updates').textContent = dashboard.updatesShown ? `${formatCount(dashboard.updatesShown)} updates` : '';
    $('updates').dataset.count = dashboard.updatesShown;
  }
  // The rate chart slides every second even when nothing happens.
  if (now - chartsAt >= (chartsVersion === dashboard.version ? 1000 : CHART_EVERY_MS)) {
    chartsAt = now;
    if (chartsVersion !== dashboard.version) {
      providerChart.update(dashboard.providers);
      renderProviderTable();
    }
    chartsVersion = dashboard.version;
    rateChart.update(dashboard.timeline(RATE_SERIES));
  }
  requestAnimationFrame(frame);
}

function connect(key) {
  connection?.stop();
  dashboard = new Dashboard();
  drawn = -1;
  chartsVersion = -1;
  connection = connectMonitor({
    url: `${location.origin.replace(/^http/, 'ws')}/graphql`,
    key,
    dashboard,
    onState: (state, detail) => {
      setState(state, detail);
      if (state === 'wrong-key') sessionStorage.removeItem(KEY);
    },
  });
  const current = connection;
  routes.follow(() => current.routes());
}

$('connect').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = $('key').value.trim();
  sessionStorage.setItem(KEY, key);
  connect(key);
});
$('forget').addEventListener('click', () => {
  connection?.stop();
  connection = undefined;
  routes.stop();
  sessionStorage.removeItem(KEY);
  $('key').value = '';
  setState('idle');
});
for (const id of ['filter-status', 'filter-provider', 'filter-recipient']) $(id).addEventListener('input', () => (drawn = -1));
$('filters').addEventListener('submit', (event) => event.preventDefault());
$('rows').addEventListener('click', (event) => {
  const button = event.target.closest('button.id');
  if (button) return copyId(button);
  const row = event.target.closest('tr[data-message]');
  if (row && connection) drilldown.open(() => connection.message(row.dataset.message));
});
$('drilldown').addEventListener('click', (event) => {
  const button = event.target.closest('button.id');
  if (button) copyId(button);
});
for (const [status, color] of Object.entries(COLORS)) document.documentElement.style.setProperty(`--${status}`, color);

const saved = sessionStorage.getItem(KEY);
if (saved) {
  $('key').value = saved;
  connect(saved);
}
requestAnimationFrame(frame);
