// The live delivery monitor: graphql-transport-ws over the gateway's /graphql, with the API key
// in connection_init. It keeps the last cursor it saw and resumes from it after any drop, so
// nothing is missed and nothing shown twice.
(() => {
  const SUBSCRIPTION = `subscription Monitor($after: String, $messageId: ID) {
    deliveryUpdated(after: $after, messageId: $messageId) {
      cursor messageId messageStatus occurredAt
      delivery { id recipient status provider errorCode errorMessage }
    }
  }`;
  const MAX_ROWS = 500;
  // Deliveries by their latest status, so a delivered message counts once, as DELIVERED.
  const statusOf = new Map();
  const counts = {};
  let socket;
  let retryMs = 500;
  let stopped = true;

  const $ = (id) => document.getElementById(id);
  const cursorKey = () => `monitor-cursor:${$('message').value.trim() || 'all'}`;
  const setState = (text) => ($('state').textContent = text);

  function render(update) {
    const d = update.delivery;
    const previous = statusOf.get(d.id);
    if (previous) counts[previous] -= 1;
    statusOf.set(d.id, d.status);
    counts[d.status] = (counts[d.status] ?? 0) + 1;
    $('counts').replaceChildren(
      ...Object.entries(counts).filter(([, n]) => n > 0).map(([status, n]) => {
        const el = document.createElement('span');
        el.className = `count ${status}`;
        el.textContent = `${status} ${n}`;
        return el;
      }),
    );
    const row = document.createElement('tr');
    for (const [text, cls] of [
      [new Date(update.occurredAt).toLocaleTimeString(), ''],
      [d.recipient, ''],
      [d.status, d.status],
      [d.provider ?? '', ''],
      [d.errorCode ? `${d.errorCode}: ${d.errorMessage ?? ''}` : '', ''],
      [update.messageId, 'id'],
    ]) {
      const cell = document.createElement('td');
      cell.textContent = text;
      if (cls) cell.className = cls;
      row.append(cell);
    }
    $('rows').prepend(row);
    while ($('rows').children.length > MAX_ROWS) $('rows').lastChild.remove();
  }

  function connect() {
    const key = $('key').value.trim();
    const messageId = $('message').value.trim() || null;
    socket = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    setState('connecting…');
    socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } }));
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === 'connection_ack') {
        retryMs = 500;
        setState('live');
        const after = sessionStorage.getItem(cursorKey());
        socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { after, messageId } } }));
      } else if (message.type === 'next') {
        if (message.payload.errors) return setState(message.payload.errors[0].message);
        const update = message.payload.data.deliveryUpdated;
        sessionStorage.setItem(cursorKey(), update.cursor);
        render(update);
      } else if (message.type === 'error') {
        setState(message.payload[0]?.message ?? 'error');
      } else if (message.type === 'ping') {
        socket.send(JSON.stringify({ type: 'pong' }));
      }
    };
    socket.onclose = (event) => {
      if (stopped) return;
      if (event.code === 4401 || event.code === 4403) {
        stopped = true;
        return setState(event.code === 4401 ? 'an API key is needed' : 'this API key is not accepted');
      }
      setState(`reconnecting (${event.code})…`);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 15000);
    };
  }

  $('connect').addEventListener('submit', (event) => {
    event.preventDefault();
    stopped = true;
    socket?.close(1000);
    stopped = false;
    connect();
  });
})();
