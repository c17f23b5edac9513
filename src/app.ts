import { createServer } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { registerCallbackRoutes } from './callbacks/route.ts';
import { resolveCallbackSecret } from './callbacks/secret.ts';
import type { Config } from './config.ts';
import { createGraphQLHttpHandler } from './graphql/http.ts';
import { attachWebSocket } from './graphql/websocket.ts';
import { createGraphQLServer } from './graphql/yoga.ts';
import { registerHealthRoutes } from './http/health.ts';
import { registerMetricsRoute } from './http/metrics.ts';
import { registerMonitorRoutes } from './monitor/route.ts';
import type { Logger } from './logger.ts';
import { maintainHistory, scheduleHistoryMaintenance } from './deliveries/retention.ts';
import { closeServices, createServices, type Services, type Surroundings } from './services.ts';
import { callbackBase, isLoopbackUrl } from './callbacks/urls.ts';

export type App = {
  services: Services;
  /** Listens on `config.port` (0 picks a free port); resolves to the base URL. */
  start(): Promise<string>;
  /** Stops taking work, closes WebSockets with 1001, finishes in-flight requests, releases everything. */
  stop(): Promise<void>;
};

/**
 * Providers that call back need a URL they can reach: without PUBLIC_URL (or with a loopback
 * one) they are given one on this machine, which only a provider on this machine can call.
 */
function warnUnreachableCallbacks(config: Config, services: Services, logger: Logger): void {
  const callingBack = services.providers.all().filter((p) => p.name !== 'sandbox' && p.capabilities.reports === 'callback');
  if (callingBack.length === 0 || (config.publicUrl && !isLoopbackUrl(config.publicUrl))) return;
  logger.warn(
    { providers: callingBack.map((p) => p.name), publicUrl: config.publicUrl ?? null },
    `${callingBack.map((p) => p.name).join(', ')} report by calling back, but PUBLIC_URL is ${config.publicUrl ? 'a loopback address' : 'unset'}: they are handed a callback URL on this machine; set PUBLIC_URL to the address they can reach (npm run cli -- providers callbacks prints the URLs)`,
  );
}

export function buildApp(config: Config, logger: Logger, surroundings: Surroundings = {}): App {
  const services = createServices(config, logger, surroundings);
  const yoga = createGraphQLServer(services);
  const graphqlOverHttp = createGraphQLHttpHandler(yoga, logger);
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    // GraphQL requests of API clients go straight to yoga's envelop (see graphql/http.ts).
    serverFactory: (handler) => createServer((req, res) => graphqlOverHttp(req, res) || handler(req, res)),
  });
  registerHealthRoutes(app, services);
  registerMetricsRoute(app, services.metrics);
  registerCallbackRoutes(app, services);
  registerMonitorRoutes(app);

  // A GraphQL client reads GraphQL errors, also for a body the server would not read.
  app.setErrorHandler<Error & { statusCode?: number }>((error, request, reply) => {
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const message = status >= 500 ? 'Internal server error.' : error.message;
    const code = status >= 500 ? 'INTERNAL_ERROR' : 'BAD_USER_INPUT';
    if (request.url.startsWith(yoga.graphqlEndpoint)) {
      return reply.code(status).send({ errors: [{ message, extensions: { code } }] });
    }
    return reply.code(status).send({ error: message });
  });

  app.route({
    url: yoga.graphqlEndpoint,
    method: ['GET', 'POST', 'OPTIONS'],
    handler: async (request, reply) => {
      const response = await yoga.handleNodeRequestAndResponse(request, reply, {});
      response.headers.forEach((value, key) => {
        reply.header(key, value);
      });
      reply.status(response.status);
      // A JSON answer goes out in one write; only event streams (subscriptions over SSE) stream.
      const streaming = response.headers.get('content-type')?.startsWith('text/event-stream');
      reply.send(streaming ? response.body : Buffer.from(await response.arrayBuffer()));
      return reply;
    },
  });

  const websocket = attachWebSocket(app.server, yoga, services);
  let started = false;
  let stopHistoryMaintenance: (() => Promise<void>) | undefined;

  return {
    services,
    async start() {
      services.callbacks.secret = await resolveCallbackSecret(services.db, config.callbackSecret);
      // Today's partitions exist before anything is written; then the window moves hourly.
      await maintainHistory(services.db, config.history);
      stopHistoryMaintenance = scheduleHistoryMaintenance(services.db, config.history, logger);
      services.router.start();
      await app.listen({ port: config.port, host: config.host });
      started = true;
      const port = (app.server.address() as { port: number }).port;
      const url = `http://127.0.0.1:${port}`;
      services.callbacks.baseUrl = callbackBase(config.publicUrl, port);
      if (config.dispatch.enabled) {
        services.dispatcher.start();
        services.balances.start();
        services.webhooks.worker.start();
      }
      logger.info({ port, pubsub: services.bus.kind, callbacks: `${services.callbacks.baseUrl}/callbacks/<provider>` }, 'gateway listening');
      warnUnreachableCallbacks(config, services, logger);
      return url;
    },
    async stop() {
      // Stop taking work: finish the dispatch round under way and hand back its claims; tell
      // live monitors we are going (1001) so they reconnect elsewhere with their cursor; let
      // requests in flight finish.
      await Promise.all([services.dispatcher.stop(), services.webhooks.worker.stop(), services.router.stop()]);
      await stopHistoryMaintenance?.();
      await websocket.close(1001);
      if (started) {
        // Node closes the connections idle at close() only; one whose request was still running
        // then would stay open until its keep-alive timeout (72 s): close each as it goes idle.
        const closing = app.close();
        const sweep = setInterval(() => app.server.closeIdleConnections(), 100);
        await closing.finally(() => clearInterval(sweep));
      }
      await closeServices(services);
    },
  };
}
