import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../logger.ts';
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import { processRegularResult } from 'graphql-yoga';
import { asBadUserInput } from './errors.ts';
import { errorMask, type GraphQLServer } from './yoga.ts';

/** The largest body taken here; anything bigger goes the general way (which refuses it). */
const MAX_BODY = 1024 * 1024;

type Params = { query: string; variables?: Record<string, unknown> | null; operationName?: string | null; extensions?: unknown };

/** Captures what yoga's result processing would answer, instead of making a WHATWG Response of it. */
class CapturedResponse {
  constructor(
    readonly body: string | null,
    readonly init: { status?: number; headers?: Record<string, string> },
  ) {}
}
const CAPTURE = { Response: CapturedResponse } as unknown as Parameters<typeof processRegularResult>[1];

/**
 * GraphQL over HTTP for the requests API clients make (a POST of a JSON body, answered as
 * JSON), straight from node:http into yoga's envelop: the same parse and validation caches,
 * plugins, limits, error masking and result processing as every other request, without a
 * Fastify route and WHATWG Request and Response objects around each one. Anything else (GET,
 * other media types, browsers, which send an Origin, batches, subscriptions over HTTP,
 * malformed parameters) goes to yoga whole, as before.
 *
 * Returns false for a request it leaves to the server's other handler, untouched.
 */
export function createGraphQLHttpHandler(yoga: GraphQLServer, logger: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  const path = yoga.graphqlEndpoint;
  const mask = errorMask(logger);
  return (req, res) => {
    if (req.method !== 'POST' || req.url !== path || !isPlainJsonRequest(req)) return false;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      answer(yoga, mask, req, res, body).catch((error: unknown) => {
        logger.error({ err: error }, 'request failed');
        if (res.headersSent) return void res.destroy();
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' });
        res.end(JSON.stringify({ errors: [{ message: 'Internal server error.', extensions: { code: 'INTERNAL_ERROR' } }] }));
      });
    });
    return true;
  };
}

function isPlainJsonRequest(req: IncomingMessage): boolean {
  const { headers } = req;
  const length = Number(headers['content-length']);
  if (!(length > 0 && length <= MAX_BODY)) return false;
  if (!headers.authorization?.trim() || headers.origin !== undefined) return false;
  const type = headers['content-type']?.toLowerCase();
  if (type !== 'application/json' && type !== 'application/json; charset=utf-8') return false;
  const accept = headers.accept;
  return accept === undefined || accept === '*/*' || accept === 'application/json';
}

async function answer(
  yoga: GraphQLServer,
  mask: (error: unknown) => GraphQLError,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
): Promise<void> {
  const params = paramsOf(body);
  if (!params) return generally(yoga, req, res, body);
  const { parse, validate, contextFactory, execute, schema } = yoga.getEnveloped({ request: { headers: new NodeHeaders(req) }, params });
  let result: ExecutionResult;
  try {
    const document: DocumentNode = parse(params.query);
    const errors = validate(schema, document);
    if (errors.length > 0) {
      result = { errors };
    } else if (getOperationAST(document, params.operationName)?.operation === 'subscription') {
      return generally(yoga, req, res, body);
    } else {
      const contextValue = await contextFactory();
      result = (await execute({ schema, document, contextValue, variableValues: params.variables, operationName: params.operationName })) as ExecutionResult;
    }
  } catch (error) {
    // What yoga does with an error thrown before execution (a refused key, an armor limit).
    result = { errors: [mask(error)] };
  }
  // As yoga answers them: the libraries' own codes (a document without the operation named, a
  // limit of graphql-armor) are the contract's BAD_USER_INPUT, ours pass as they are.
  if (result.errors?.length) result = { ...result, errors: result.errors.map((e) => asBadUserInput(e as GraphQLError)) };
  const processed = processRegularResult(result, CAPTURE, 'application/json') as unknown as CapturedResponse;
  res.writeHead(processed.init.status ?? 200, processed.init.headers);
  res.end(processed.body);
}

/** The parameters of a well-formed request, or undefined for yoga to answer exactly as it does. */
function paramsOf(body: Buffer): Params | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { query, variables, operationName, extensions, ...rest } = parsed as Record<string, unknown>;
  if (typeof query !== 'string' || Object.keys(rest).length > 0) return undefined;
  if (variables != null && (typeof variables !== 'object' || Array.isArray(variables))) return undefined;
  if (operationName != null && typeof operationName !== 'string') return undefined;
  if (extensions !== undefined) return undefined;
  return parsed as Params;
}

/** The request as yoga takes any other: its whole server, from a WHATWG request of the body already read. */
async function generally(yoga: GraphQLServer, req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
  }
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'localhost'}`);
  const response = await yoga.fetch(url, { method: 'POST', headers, body: body.toString('utf8') }, {});
  const out: Record<string, string> = {};
  response.headers.forEach((value, key) => (out[key] = value));
  res.writeHead(response.status, out);
  if (!response.headers.get('content-type')?.startsWith('text/event-stream')) {
    res.end(Buffer.from(await response.arrayBuffer()));
    return;
  }
  // A subscription over HTTP: its events as they come, until either side ends it.
  res.on('close', () => void response.body?.cancel().catch(() => undefined));
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) res.write(chunk);
  res.end();
}

/** The one thing the context factory reads of a request: a header. */
class NodeHeaders {
  constructor(private readonly req: IncomingMessage) {}
  get(name: string): string | null {
    const value = this.req.headers[name.toLowerCase()];
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
  }
}
