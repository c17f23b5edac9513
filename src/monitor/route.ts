import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

const here = new URL('.', import.meta.url).pathname;
// The page's own modules, and the libraries it runs on straight from node_modules: no build
// step, no CDN, so it works offline.
const sources: Record<string, string> = {
  '/monitor': join(here, 'page.html'),
  ...Object.fromEntries(
    readdirSync(here)
      .filter((name) => name.endsWith('.js') || name.endsWith('.css'))
      .map((name) => [`/monitor/${name}`, join(here, name)]),
  ),
  '/monitor/vendor/uPlot.esm.js': join(dirname(require.resolve('uplot')), 'uPlot.esm.js'),
  '/monitor/vendor/uPlot.min.css': join(dirname(require.resolve('uplot')), 'uPlot.min.css'),
  '/monitor/vendor/graphql-ws.min.js': join(dirname(require.resolve('graphql-ws')), '../umd/graphql-ws.min.js'),
};
const FILES = Object.fromEntries(
  Object.entries(sources).map(([path, file]) => [path, { type: TYPES[extname(file)]!, body: readFileSync(file, 'utf8') }]),
);

/** `GET /monitor`: the live delivery dashboard, a static page that talks to the API with the user's key. */
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
