import type { FastifyInstance } from 'fastify';
import type { Services } from '../services.ts';

export function registerHealthRoutes(app: FastifyInstance, services: Services) {
  app.get('/health', async () => ({ status: 'ok' }));

  app.get('/ready', async (_request, reply) => {
    try {
      await services.db.$queryRaw`SELECT 1`;
      return { status: 'ready', database: 'up', pubsub: services.bus.kind };
    } catch {
      return reply.code(503).send({ status: 'unavailable', database: 'down' });
    }
  });
}
