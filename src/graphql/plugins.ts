import { getOperationAST, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../http/metrics.ts';
import { asBadUserInput } from './errors.ts';

/** The root field an operation asks for first: a bounded label, unlike client operation names. */
function rootFieldOf(document: DocumentNode, operationName?: string | null): { field: string; type: string } {
  const operation = getOperationAST(document, operationName ?? undefined);
  const first = operation?.selectionSet.selections.find((s) => s.kind === 'Field');
  return { field: first?.kind === 'Field' ? first.name.value : 'unknown', type: operation?.operation ?? 'unknown' };
}

function outcomeOf(errors: readonly GraphQLError[] | undefined): string {
  if (!errors?.length) return 'ok';
  const code = errors[0]!.extensions?.code;
  return typeof code === 'string' ? code : 'error';
}

/** Counts and times operations per root field, over HTTP and WebSocket alike. */
export function useOperationMetrics(metrics: Metrics): Plugin {
  const observe = (args: { document: DocumentNode; operationName?: string | null }) => {
    const labels = rootFieldOf(args.document, args.operationName);
    const stop = metrics.latency.startTimer(labels);
    return (errors: readonly GraphQLError[] | undefined) => {
      stop();
      metrics.operations.inc({ ...labels, outcome: outcomeOf(errors) });
    };
  };
  return {
    onExecute({ args }) {
      const done = observe(args);
      return { onExecuteDone: ({ result }) => done('errors' in result ? result.errors : undefined) };
    },
    onSubscribe({ args }) {
      const done = observe(args);
      return {
        onSubscribeResult: ({ result }) => done('errors' in result ? (result as { errors?: readonly GraphQLError[] }).errors : undefined),
        onSubscribeError: () => done([{ extensions: { code: 'INTERNAL_ERROR' } } as unknown as GraphQLError]),
      };
    },
  };
}

/** Parse and validation errors carry the contract's BAD_USER_INPUT, over HTTP and WebSocket. */
export function useContractCodesForMalformedRequests(): Plugin {
  return {
    onParse() {
      return ({ result, replaceParseResult }) => {
        if (result instanceof Error && 'extensions' in result) replaceParseResult(asBadUserInput(result as GraphQLError));
      };
    },
    onValidate() {
      return ({ result, setResult }) => {
        if (result.length > 0) setResult(result.map((error) => asBadUserInput(error as GraphQLError)));
      };
    },
  };
}
