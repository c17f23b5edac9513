// Routing as the gateway sees it: per destination, each provider's measurements and its share of
// new traffic (the `routes` query). Read every few seconds; shown only to keys that may read it.
import { element, formatCount } from './format.js';

const EVERY_MS = 5000;
const percent = (x) => (x === null || x === undefined ? '' : `${(100 * x).toFixed(1)}%`);
const seconds = (x) => (x === null || x === undefined ? '' : `${x < 10 ? x.toFixed(2) : x.toFixed(0)} s`);

export function createRoutesPanel({ section, table }) {
  let timer;
  let stopped = true;

  function render(routes) {
    const headings = ['destination', 'provider', 'share', 'delivered', 'median', 'p90', 'per delivered', 'reports', 'state'];
    table.replaceChildren(
      element('thead', {}, element('tr', {}, ...headings.map((h) => element('th', { textContent: h })))),
      element(
        'tbody',
        {},
        ...routes.flatMap((route) =>
          route.providers.map((p, i) =>
            element(
              'tr',
              { className: p.state === 'chosen' ? 'chosen' : '', dataset: { destination: route.destination, provider: p.provider, state: p.state } },
              element('td', { textContent: i === 0 ? `${route.destination}${route.pinned ? ` (pinned to ${route.pinned})` : ''}` : '' }),
              element('td', { textContent: p.provider + (p.outOfCredit ? ' (no credit)' : '') }),
              element('td', { className: 'number share', textContent: percent(p.share) }),
              element('td', { className: 'number', textContent: percent(p.deliveryRatio) }),
              element('td', { className: 'number', textContent: seconds(p.medianDeliverySeconds) }),
              element('td', { className: 'number', textContent: seconds(p.p90DeliverySeconds) }),
              element('td', { className: 'number', textContent: p.pricePerDelivered ?? '' }),
              element('td', { className: 'number', textContent: formatCount(p.reports) }),
              element('td', { textContent: p.state }),
            ),
          ),
        ),
      ),
    );
  }

  async function poll(load) {
    if (stopped) return;
    try {
      render(await load());
      section.hidden = false;
    } catch (error) {
      // A key without admin may not read routes: nothing to show, nothing to ask again.
      if (error.code === 'INSUFFICIENT_PERMISSIONS') {
        section.hidden = true;
        return;
      }
    }
    if (!stopped) timer = setTimeout(() => poll(load), EVERY_MS);
  }

  return {
    /** Starts reading with `load` (a connection's `routes`), until `stop`. */
    follow(load) {
      this.stop();
      stopped = false;
      void poll(load);
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      section.hidden = true;
    },
  };
}
