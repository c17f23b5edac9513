import { once } from 'node:events';
import WebSocket from 'ws';

export type WsSession = {
  /** Resolves true on connection_ack, false when the socket closed first. */
  acked: Promise<boolean>;
  /** How the socket ended. */
  closed: Promise<{ code: number; reason: string }>;
  socket: WebSocket;
};

/** A raw graphql-transport-ws connection with `authorization` in connection_init, sent from `origin` when given (as a browser would). */
export function openSession(url: string, authorization: string, origin?: string): WsSession {
  const socket = new WebSocket(url, 'graphql-transport-ws', origin ? { origin } : {});
  const closed = (once(socket, 'close') as Promise<[number, Buffer]>).then(([code, reason]) => ({ code, reason: String(reason) }));
  const acked = new Promise<boolean>((resolve, reject) => {
    socket.on('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization } })));
    socket.on('message', (data) => {
      if (JSON.parse(String(data)).type === 'connection_ack') resolve(true);
    });
    socket.on('error', reject);
    void closed.then(() => resolve(false));
  });
  return { acked, closed, socket };
}
