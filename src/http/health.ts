import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

/** A database that does not answer within this is as good as down, for a load balancer. */
const READY_TIMEOUT_MS = 2000;

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export function registerHealthRoutes(app: FastifyInstance, services: Services) {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    try {
      await withTimeout(services.db.$queryRaw`SELECT 1`, READY_TIMEOUT_MS);
      return { status: 'ready', database: 'up', pubsub: services.bus.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: 'down' });
    }
  });
}
