import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TypedDocumentString } from '../generated/graphql.ts';

export type GraphQLResponse<T> = {
  status: number;
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> & { code?: string } }>;
};

/** POSTs a typed document with an API key (or none) and returns the HTTP status and body. */
export async function gql<TResult, TVariables>(
  url: string,
  apiKey: string | undefined,
  document: TypedDocumentString<TResult, TVariables>,
  variables?: TVariables,
): Promise<GraphQLResponse<TResult>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
      ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    },
    body: JSON.stringify({ query: document.toString(), variables }),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLResponse<TResult>, 'status'>) };
}

/** Like gql, but fails the test on any error and returns the data. */
export async function gqlData<TResult, TVariables>(
  url: string,
  apiKey: string,
  document: TypedDocumentString<TResult, TVariables>,
  variables?: TVariables,
): Promise<TResult> {
  const result = await gql(url, apiKey, document, variables);
  if (result.errors?.length || !result.data) {
    throw new Error(`GraphQL error: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}

export function wsClient(url: string, apiKey: string | undefined, options: { retryAttempts?: number } = {}): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    retryAttempts: options.retryAttempts ?? 0,
    lazy: true,
  });
}

/**
 * Collects what a subscription yields; `until` resolves when the collected items satisfy a
 * condition, so tests wait on events rather than on time.
 */
export class Collector<T, TVariables = Record<string, unknown>> {
  readonly items: T[] = [];
  readonly errors: unknown[] = [];
  completed = false;
  private watchers: Array<() => void> = [];

  constructor(
    client: Client,
    document: TypedDocumentString<T, TVariables>,
    variables?: TVariables,
  ) {
    this.dispose = client.subscribe<T>(
      { query: document.toString(), variables: (variables ?? {}) as Record<string, unknown> },
      {
        next: (value) => {
          if (value.errors) this.errors.push(...value.errors);
          if (value.data) this.items.push(value.data as T);
          this.notify();
        },
        error: (error) => {
          this.errors.push(error);
          this.notify();
        },
        complete: () => {
          this.completed = true;
          this.notify();
        },
      },
    );
  }

  readonly dispose: () => void;

  /** Resolves when the items satisfy `condition`; fails (saying what it waited for) after `timeoutMs`. */
  until(condition: (items: T[]) => boolean, description = 'condition', timeoutMs = 45_000): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.watchers = this.watchers.filter((w) => w !== check);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${description} (${this.items.length} items so far)`));
      }, timeoutMs);
      const check = () => {
        if (condition(this.items)) {
          done();
          resolve(this.items);
        } else if (this.errors.length > 0 || this.completed) {
          done();
          reject(new Error(`subscription ended before ${description}: ${JSON.stringify(this.errors)}`));
        }
      };
      this.watchers.push(check);
      check();
    });
  }

  private notify() {
    for (const watcher of [...this.watchers]) watcher();
  }
}
