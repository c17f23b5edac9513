// The two charts, drawn by uPlot (served from node_modules): status changes per second, and
// final outcomes per provider as stacked bars.
import uPlot from '/monitor/vendor/uPlot.esm.js';

export const COLORS = {
  ACCEPTED: '#8c959f',
  SENT: '#0969da',
  DELIVERED: '#1a7f37',
  FAILED: '#cf222e',
  EXPIRED: '#bf8700',
  REJECTED: '#8250df',
  CANCELED: '#57606a',
};
const LABELS = { ACCEPTED: 'accepted', SENT: 'sent', DELIVERED: 'delivered', FAILED: 'failed', EXPIRED: 'expired', REJECTED: 'rejected', CANCELED: 'canceled' };
export const RATE_SERIES = ['ACCEPTED', 'SENT', 'DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];
const OUTCOMES = ['DELIVERED', 'FAILED', 'EXPIRED', 'REJECTED'];
const HEIGHT = 220;

const clockTime = (seconds) => new Date(seconds * 1000).toTimeString().slice(0, 8);
const widthOf = (el) => Math.max(el.clientWidth, 240);

function fitTo(el, chart) {
  new ResizeObserver(() => chart.setSize({ width: widthOf(el), height: HEIGHT })).observe(el);
}

/** Status changes per second over the last minutes, one line per status. */
export function createRateChart(el) {
  const chart = new uPlot(
    {
      width: widthOf(el),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },
      scales: { y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.1))] } },
      axes: [{ space: 70, values: (_u, splits) => splits.map(clockTime) }, { label: 'per second', size: 50 }],
      series: [{}, ...RATE_SERIES.map((name) => ({ label: LABELS[name], stroke: COLORS[name], width: 2, points: { show: false } }))],
    },
    [[], ...RATE_SERIES.map(() => [])],
    el,
  );
  fitTo(el, chart);
  return {
    chart,
    update(data) {
      chart.setData(data);
    },
  };
}

/**
 * Final outcomes per provider. uPlot has no stacking of its own: each series is drawn as the
 * sum of itself and those above it, widest first, so the narrower ones are painted over it.
 */
export function createProviderChart(el) {
  let names = [];
  const drawOrder = [...OUTCOMES].reverse();
  const chart = new uPlot(
    {
      width: widthOf(el),
      height: HEIGHT,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: false, range: () => [-0.5, Math.max(names.length, 1) - 0.5] },
        y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.1))] },
      },
      axes: [
        { splits: () => names.map((_, i) => i), values: (_u, splits) => splits.map((i) => names[i] ?? ''), grid: { show: false } },
        { size: 50 },
      ],
      series: [
        {},
        ...drawOrder.map((status) => ({
          label: LABELS[status],
          fill: COLORS[status],
          stroke: COLORS[status],
          paths: uPlot.paths.bars({ size: [0.6, 90] }),
          points: { show: false },
        })),
      ],
    },
    [[], ...drawOrder.map(() => [])],
    el,
  );
  fitTo(el, chart);
  return {
    chart,
    /** `providers`: Map of provider name to a Map of final status to count. */
    update(providers) {
      const entries = [...providers].filter(([, counts]) => OUTCOMES.some((s) => counts.get(s))).sort(([a], [b]) => a.localeCompare(b));
      names = entries.map(([name]) => name || '(none)');
      const stacked = drawOrder.map((_, i) => entries.map(([, counts]) => drawOrder.slice(i).reduce((sum, s) => sum + (counts.get(s) ?? 0), 0)));
      chart.setData([entries.map((_, i) => i), ...stacked]);
    },
  };
}
