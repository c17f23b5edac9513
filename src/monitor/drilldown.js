// A message's details, in one query: its text, segments, cost, and each delivery's attempts
// (the latest hundred deliveries of a larger message).
import { element, formatTime, idButton } from './format.js';

export function createDrilldown({ panel, body, close }) {
  const hide = () => (panel.hidden = true);
  close.addEventListener('click', hide);
  document.addEventListener('keydown', (event) => event.key === 'Escape' && hide());

  const field = (label, ...value) => [element('dt', { textContent: label }), element('dd', {}, ...value)];

  function render(message) {
    body.replaceChildren(
      element('h2', {}, 'Message ', idButton(message.id)),
      element('p', { className: 'text', textContent: message.text }),
      element(
        'dl',
        {},
        ...field('status', element('span', { className: `status ${message.status}`, textContent: message.status })),
        ...field('sender', message.senderId),
        ...field('segments', `${message.segments} × ${message.recipientCount} recipient${message.recipientCount === 1 ? '' : 's'} (${message.encoding})`),
        ...field('cost', `${message.cost} ${message.currency}`),
        ...field('accepted', formatTime(message.createdAt)),
        ...(message.scheduledAt ? field('scheduled', formatTime(message.scheduledAt)) : []),
      ),
      ...(message.deliveries.length < message.recipientCount
        ? [element('p', { className: 'muted', textContent: `The latest ${message.deliveries.length} of its ${message.recipientCount} deliveries.` })]
        : []),
      ...message.deliveries.map((d) =>
        element(
          'section',
          { className: 'delivery', dataset: { delivery: d.id } },
          element(
            'h3',
            {},
            element('span', { className: 'recipient', textContent: d.recipient }),
            ' ',
            element('span', { className: `status ${d.status}`, textContent: d.status }),
            ' ',
            idButton(d.id),
          ),
          element(
            'p',
            { className: 'muted' },
            [d.provider && `via ${d.provider}`, `${d.cost} ${message.currency}`, d.sentAt && `sent ${formatTime(d.sentAt)}`, d.deliveredAt && `delivered ${formatTime(d.deliveredAt)}`]
              .filter(Boolean)
              .join(' · '),
          ),
          d.errorCode ? element('p', { className: 'error' }, element('code', { textContent: d.errorCode }), ` ${d.errorMessage ?? ''}`) : null,
          d.routing ? element('p', { className: 'routing muted', textContent: `routing (${d.routing.mode}${d.routing.explored ? ', explored' : ''}): ${d.routing.reason}` }) : null,
          d.attempts.length === 0
            ? element('p', { className: 'muted', textContent: 'No attempt yet.' })
            : element(
                'table',
                { className: 'attempts' },
                element('thead', {}, element('tr', {}, ...['time', 'provider', 'outcome', 'error'].map((h) => element('th', { textContent: h })))),
                element(
                  'tbody',
                  {},
                  ...d.attempts.map((a) =>
                    element(
                      'tr',
                      {},
                      element('td', { className: 'time', textContent: formatTime(a.at) }),
                      element('td', { textContent: a.provider }),
                      element('td', { textContent: a.outcome }),
                      element('td', { textContent: a.errorCode ? `${a.errorCode} ${a.errorMessage ?? ''}` : '' }),
                    ),
                  ),
                ),
              ),
        ),
      ),
    );
  }

  return {
    async open(load) {
      panel.hidden = false;
      body.replaceChildren(element('p', { className: 'muted', textContent: 'Loading…' }));
      try {
        render(await load());
      } catch (error) {
        body.replaceChildren(element('p', { className: 'error', textContent: error.message }));
      }
    },
  };
}
