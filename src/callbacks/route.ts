import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PROVIDER_NAMES, MalformedCallbackError } from '../providers/types.ts';
import type { Services } from '../services.ts';
import { createReportBatcher } from './batcher.ts';

const MAX_CALLBACK_BYTES = 64 * 1024;

function sameSecret(given: string, expected: string): boolean {
  // Digests have one length, so the comparison takes the same time whatever was sent.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** `POST /callbacks/<provider>?token=<CALLBACK_SECRET>`: delivery reports in each provider's own format. */
export function registerCallbackRoutes(app: FastifyInstance, services: Services) {
  const batcher = createReportBatcher(services, services.logger);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: MAX_CALLBACK_BYTES }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.post<{ Params: { provider: string }; Querystring: { token?: string } }>(
    '/callbacks/:provider',
    { bodyLimit: MAX_CALLBACK_BYTES },
    async (request, reply) => {
      const name = request.params.provider;
      const provider = services.providers.get(name);
      const count = (outcome: string) => services.metrics.callbacks.inc({ provider: isKnown(name) ? name : 'other', outcome });
      // The token first: without it, a caller learns nothing, not even which providers are on.
      const secret = services.callbacks.secret;
      if (!secret || typeof request.query.token !== 'string' || !sameSecret(request.query.token, secret)) {
        request.log.warn({ provider: isKnown(name) ? name : 'other' }, 'callback refused: wrong or missing token');
        count('unauthorized');
        return reply.code(401).send({ error: 'wrong or missing token' });
      }
      if (!isKnown(name) || !provider?.parseCallback) {
        count('unknown_provider');
        return reply.code(404).send({ error: `no provider "${name}" takes callbacks here` });
      }
      let reports;
      try {
        reports = provider.parseCallback({ body: request.body, headers: request.headers, query: request.query });
      } catch (error) {
        if (!(error instanceof MalformedCallbackError)) throw error;
        request.log.warn({ provider: name, reason: error.message, body: truncate(request.body) }, 'malformed callback');
        count('malformed');
        return reply.code(400).send({ error: error.message });
      }
      const unreadable = reports.find((report) => Object.values(report.match).some((value) => value !== undefined && !isStorable(value)));
      if (unreadable) {
        request.log.warn({ provider: name }, 'callback with unreadable identifiers');
        count('malformed');
        return reply.code(400).send({ error: 'identifiers must be well-formed text without NUL characters' });
      }
      const result = await batcher.submit(name, reports);
      count(result.unmatched > 0 ? 'unmatched' : result.applied > 0 ? 'applied' : 'duplicate');
      if (result.unmatched > 0) request.log.warn({ provider: name, ...result }, 'callback reports matched no delivery');
      return reply.code(200).send(result);
    },
  );
}

function isKnown(name: string): boolean {
  return (PROVIDER_NAMES as readonly string[]).includes(name);
}

function isStorable(value: string): boolean {
  return !value.includes('\u0000') && value.isWellFormed() && value.length <= 200;
}

function truncate(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body) ?? '';
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}
