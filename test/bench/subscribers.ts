// A crowd of live monitors, as a child process of the bench (so that their work is not done on
// the bench's event loop): COUNT WebSocket connections, one deliveryUpdated subscription each,
// speaking graphql-transport-ws directly on `ws`. Each update's arrival is stamped on receipt
// and read afterwards, so that what is measured is the gateway's fan-out, not this process's
// parsing. Messages with the parent: {ready} once all are subscribed; on {report}, the delays.
import WebSocket from 'ws';

const url = process.env.SUBSCRIBERS_URL!;
const key = process.env.SUBSCRIBERS_KEY!;
const count = Number(process.env.SUBSCRIBERS_COUNT);
const query = process.env.SUBSCRIBERS_QUERY!;
const CONNECTING_AT_ONCE = 200;

type Arrival = { at: number; data: string };
const arrivals: Arrival[] = [];
const sockets: WebSocket[] = [];
let closedEarly = 0;

function connect(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets.push(socket);
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${key}` } })));
    let acknowledged = false;
    socket.on('message', (data) => {
      if (acknowledged) {
        arrivals.push({ at: Date.now(), data: data.toString() });
        return;
      }
      acknowledged = true;
      socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query } }));
      resolve();
    });
    socket.on('close', () => (closedEarly += 1));
    socket.on('error', reject);
  });
}

for (let i = 0; i < count; i += CONNECTING_AT_ONCE) {
  await Promise.all(Array.from({ length: Math.min(CONNECTING_AT_ONCE, count - i) }, connect));
}
process.send!({ ready: true });
let cpuAtStart = process.cpuUsage();

process.on('message', (message: { report?: boolean; until?: number }) => {
  if (message.until !== undefined) {
    const wanted = message.until;
    cpuAtStart = process.cpuUsage();
    const check = () => (arrivals.length >= wanted ? report() : setTimeout(check, 20));
    check();
  }
});

function report() {
  const delays: number[] = [];
  const delaysByStatus: Record<string, number[]> = {};
  let malformed = 0;
  for (const arrival of arrivals) {
    type Update = { occurredAt: string; delivery?: { status?: string } };
    const parsed = JSON.parse(arrival.data) as { type: string; payload?: { data?: { deliveryUpdated?: Update } } };
    const update = parsed.payload?.data?.deliveryUpdated;
    if (parsed.type !== 'next' || !update?.occurredAt) {
      malformed += 1;
      continue;
    }
    const delay = arrival.at - Date.parse(update.occurredAt);
    delays.push(delay);
    (delaysByStatus[update.delivery?.status ?? '?'] ??= []).push(delay);
  }
  const cpu = process.cpuUsage(cpuAtStart);
  process.send!({ delays, delaysByStatus, malformed, closedEarly, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
  for (const socket of sockets) socket.terminate();
  setImmediate(() => process.exit(0));
}
