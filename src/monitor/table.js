// The live table: one row per delivery, newest accepted first, its status changing in place.
// Rows are kept per delivery id and patched only when their delivery changed.
import { element, formatCount, formatTime, idButton } from './format.js';

// A screenful and some: the rest of what matches is counted, not drawn.
const SHOWN = 100;

export function createTable({ tbody, summary, filters }) {
  const rendered = new Map();

  function rowOf(entry) {
    const cached = rendered.get(entry.id);
    if (cached?.version === entry.version) return cached.tr;
    const tr = cached?.tr ?? element('tr', { dataset: { delivery: entry.id } });
    tr.dataset.message = entry.messageId;
    tr.dataset.status = entry.status;
    tr.replaceChildren(
      element('td', { className: 'time', title: entry.changedAt, textContent: formatTime(entry.changedAt) }),
      element('td', {}, idButton(entry.messageId)),
      element('td', {}, idButton(entry.id)),
      element('td', { className: 'recipient', textContent: entry.recipient }),
      element('td', {}, element('span', { className: `status ${entry.status}`, textContent: entry.status })),
      element('td', { className: 'provider', textContent: entry.provider ?? '' }),
      element(
        'td',
        { className: 'error', title: entry.errorMessage ?? '' },
        entry.errorCode ? element('code', { textContent: entry.errorCode }) : null,
        entry.errorMessage ? ` ${entry.errorMessage}` : null,
      ),
    );
    rendered.set(entry.id, { tr, version: entry.version });
    return tr;
  }

  function matches(entry, { status, provider, recipient }) {
    if (status && entry.status !== status) return false;
    if (provider && (entry.provider ?? '') !== provider) return false;
    return !recipient || entry.recipient.replace(/\D/g, '').includes(recipient);
  }

  return {
    /** Shows the first rows of `rows` that pass the filters, reusing the rows already drawn. */
    render(rows) {
      const wanted = filters();
      const shown = [];
      let matching = 0;
      for (const entry of rows) {
        if (!matches(entry, wanted)) continue;
        matching += 1;
        if (shown.length < SHOWN) shown.push(rowOf(entry));
      }
      shown.forEach((tr, i) => {
        if (tbody.children[i] !== tr) tbody.insertBefore(tr, tbody.children[i] ?? null);
      });
      while (tbody.children.length > shown.length) tbody.lastChild.remove();
      const kept = new Set(rows.map((r) => r.id));
      for (const id of rendered.keys()) if (!kept.has(id)) rendered.delete(id);
      summary.textContent =
        matching > shown.length
          ? `showing the latest ${formatCount(shown.length)} of ${formatCount(matching)} matching`
          : `${formatCount(matching)} ${matching === 1 ? 'delivery' : 'deliveries'}`;
    },
  };
}
