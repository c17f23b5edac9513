import {
  createSourceEventStream,
  execute,
  print,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLContext, SerialisedResult, SubscriptionSink } from './context.ts';

/** A result shared by every subscriber with the same key, serialised at most once. */
class SharedResult {
  private shared: SerialisedResult | undefined;
  constructor(readonly result: ExecutionResult) {}

  /** The result as JSON, for results without errors (those are masked on their way, per subscriber). */
  serialised(): SerialisedResult | undefined {
    if (this.result.errors?.length) return undefined;
    return (this.shared ??= serialisedResult(JSON.stringify(this.result)));
  }
}

function serialisedResult(json: string): SerialisedResult {
  const encodings = new Map<string, unknown>();
  return {
    encoded<T>(key: string, encode: (json: string) => T): T {
      let value = encodings.get(key) as T | undefined;
      if (value === undefined) {
        value = encode(json);
        encodings.set(key, value);
      }
      return value;
    },
  };
}

type Execution = SharedResult | Promise<SharedResult>;

/**
 * Every subscriber of an account receives the very same update objects from the account's live
 * feed (deliveries/live-feed.ts). GraphQL would execute the subscription's selection for each
 * of them, thousands of times the same work for one status change; here it is executed and
 * serialised once per distinct (update, operation text, variables, account, scopes), which is
 * all a result depends on: the resolvers below an update read only the update, and the
 * caller's account and scopes. Over WebSocket the serialised result is written straight to
 * each subscriber's socket (context.subscriptionSink), without a promise chain per subscriber
 * through the server's layers. Subscribing still goes through the schema's own subscribe
 * (authorization, limits, argument checks); a result with errors takes the ordinary way, so
 * that masking applies to it.
 */
export function useSharedSubscriptionExecution(): Plugin<GraphQLContext> {
  const printed = new WeakMap<DocumentNode, string>();
  const executions = new WeakMap<object, Map<string, Execution>>();
  const operationKey = (args: ExecutionArgs): string => {
    let text = printed.get(args.document);
    if (text === undefined) {
      text = print(args.document);
      printed.set(args.document, text);
    }
    const caller = (args.contextValue as Partial<GraphQLContext>).caller;
    return JSON.stringify([text, args.operationName ?? null, args.variableValues ?? null, caller?.accountId, caller?.scopes]);
  };
  return {
    onSubscribe({ setSubscribeFn }) {
      setSubscribeFn(async (args: ExecutionArgs) => {
        const stream = await createSourceEventStream(args);
        if (!isAsyncIterable(stream)) return stream;
        const key = operationKey(args);
        const shared = (event: unknown): Execution => {
          if (typeof event !== 'object' || event === null) return executeOnce(args, event);
          let results = executions.get(event);
          if (!results) {
            results = new Map();
            executions.set(event, results);
          }
          let result = results.get(key);
          if (!result) {
            result = executeOnce(args, event);
            results.set(key, result);
          }
          return result;
        };
        const sink = (args.contextValue as Partial<GraphQLContext>).subscriptionSink;
        return sink ? writtenToSink(stream, shared, sink) : mapAsyncIterable(stream, async (event) => (await shared(event)).result);
      });
    },
  };
}

function executeOnce(args: ExecutionArgs, event: unknown): Execution {
  const result = execute({ ...args, rootValue: event });
  return result instanceof Promise ? result.then((r) => new SharedResult(r)) : new SharedResult(result);
}

/**
 * Writes each result of `source` to `sink`, yielding only those it cannot write (results with
 * errors): the server sends a yielded one and asks for the next, so the order holds.
 */
function writtenToSink(
  source: AsyncIterable<unknown>,
  shared: (event: unknown) => Execution,
  sink: SubscriptionSink,
): AsyncIterableIterator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  return {
    async next() {
      for (;;) {
        const item = await iterator.next();
        if (item.done) return { done: true, value: undefined };
        const execution = shared(item.value);
        const entry = execution instanceof SharedResult ? execution : await execution;
        const serialised = entry.serialised();
        if (serialised === undefined || !sink.write(serialised)) return { done: false, value: entry.result };
      }
    },
    return: async () => {
      await iterator.return?.();
      return { done: true, value: undefined };
    },
    throw: async (error?: unknown) => {
      await iterator.throw?.(error);
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** `source` with `map` applied to each value; ending it ends the source. */
function mapAsyncIterable<T, R>(source: AsyncIterable<T>, map: (value: T) => R | Promise<R>): AsyncIterableIterator<R> {
  const iterator = source[Symbol.asyncIterator]();
  const step = async (result: IteratorResult<T>): Promise<IteratorResult<R>> =>
    result.done ? { done: true, value: undefined } : { done: false, value: await map(result.value) };
  return {
    next: () => iterator.next().then(step),
    return: async () => (iterator.return ? step(await iterator.return()) : { done: true, value: undefined }),
    throw: async (error?: unknown) => {
      if (iterator.throw) return step(await iterator.throw(error));
      throw error;
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
