import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const asset = (name: string) => readFileSync(new URL(name, import.meta.url), 'utf8');
const FILES = {
  '/monitor': { type: 'text/html; charset=utf-8', body: asset('./page.html') },
  '/monitor/monitor.js': { type: 'text/javascript; charset=utf-8', body: asset('./monitor.js') },
  '/monitor/monitor.css': { type: 'text/css; charset=utf-8', body: asset('./monitor.css') },
} as const;

/** `GET /monitor`: the live delivery monitor, a static page that subscribes with the user's key. */
export function registerMonitorRoutes(app: FastifyInstance) {
  // Browsers ask for it with every page; there is none.
  app.get('/favicon.ico', async (_request, reply) => reply.code(204).send());
  for (const [path, file] of Object.entries(FILES)) {
    app.get(path, async (_request, reply) =>
      reply
        .header('content-type', file.type)
        .header('content-security-policy', "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
        .header('x-content-type-options', 'nosniff')
        .send(file.body),
    );
  }
}
