import { createComplexityRule, type FieldComplexityValue } from '@pothos/plugin-complexity';
import {
  getNamedType,
  getNullableType,
  getOperationAST,
  GraphQLList,
  Kind,
  validate,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLError,
  type GraphQLField,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { MAX_RECIPIENTS } from '../messages/limits.ts';
import { GatewayError } from '../shared/errors.ts';
import { asBadUserInput, toGraphQLError } from './errors.ts';
import { DEFAULT_PAGE, MAX_PAGE } from './pages.ts';

/**
 * What one operation may ask for, counted in values of its answer: every field selected costs 1,
 * times how many of its parent there can be. A list counts as many items as it can hold: a
 * connection its `first` (with variables), a message's deliveries as many as a message can have
 * recipients, its attempts 3. Every field of each delivery of the largest message, with their
 * attempts, fits (10,000 × 29); the same deliveries repeated on each row of a page of reports do
 * not.
 */
export const MAX_VALUES_PER_OPERATION = 300_000;
/** A subscription is counted per update it sends. */
export const MAX_VALUES_PER_UPDATE = 1_000;

const UNKNOWN_LIST_ITEMS = 10;
/** A delivery is handed over once, or a few times with retries and failover. */
export const ATTEMPTS_PER_DELIVERY = 3;

/**
 * Default cost of a field: 1. A field with a `first` argument (a connection) holds as many items
 * as the page it asks for; a list of unknown length counts as 10 of its items.
 */
export function fieldComplexity<Context>(args: { first?: unknown }, _ctx: Context, field: GraphQLField<unknown, Context>): FieldComplexityValue {
  if (field.args.some((arg) => arg.name === 'first')) {
    const first = typeof args.first === 'number' ? args.first : DEFAULT_PAGE;
    return { field: 1, multiplier: Math.min(Math.max(first, 1), MAX_PAGE) };
  }
  if (!(getNullableType(field.type) instanceof GraphQLList)) return 1;
  // A connection's edges are as many as the connection's `first`, counted on the connection.
  const edges = field.name === 'edges' && getNamedType(field.type).name.endsWith('Edge');
  return { field: 1, multiplier: edges ? 1 : UNKNOWN_LIST_ITEMS };
}

export const messageDeliveriesComplexity: FieldComplexityValue = { field: 1, multiplier: MAX_RECIPIENTS };

/**
 * Refuses, before anything runs, an operation whose answer could hold more than the limit,
 * with the variables it came with. Runs on execute and subscribe, so both transports apply it.
 * A document whose cost no variable can change (no `first: $n`, no directive on a variable) is
 * counted once: the ten thousand recipients of a sendSms are not coerced again for it.
 */
export function useComplexityLimit(): Plugin {
  const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();
  const check = (args: ExecutionArgs): readonly GraphQLError[] => {
    const operation = getOperationAST(args.document, args.operationName);
    const subscription = operation?.operation === 'subscription';
    const max = subscription ? MAX_VALUES_PER_UPDATE : MAX_VALUES_PER_OPERATION;
    const refusal = (complexity: number) =>
      toGraphQLError(
        new GatewayError(
          'BAD_USER_INPUT',
          `This operation could return about ${complexity.toLocaleString('en')} values, more than ${max.toLocaleString('en')} ${subscription ? 'per update' : 'in one answer'}: ask for fewer (a smaller first:, fewer nested lists), or read a message's deliveries a page at a time with deliveryReports(filter: {messageId}).`,
          { queryComplexity: { max, actual: complexity } },
        ),
      );
    const known = fixedCosts.get(args.document)?.get(args.operationName ?? '');
    if (known !== undefined) return known > max ? [refusal(known)] : [];

    let measured: number | undefined;
    const rule = createComplexityRule({
      context: args.contextValue as object,
      variableValues: (args.variableValues ?? {}) as Record<string, unknown>,
      operationName: args.operationName,
      validate: ({ complexity }, reportError) => {
        measured = complexity;
        if (complexity > max) reportError(refusal(complexity));
      },
    });
    // Variables that do not fit their types are reported here first: with the contract's code.
    const errors = validate(args.schema, args.document, [rule]).map(asBadUserInput);
    if (measured !== undefined && !costDependsOnVariables(args.document)) {
      const costs = fixedCosts.get(args.document) ?? new Map<string, number>();
      costs.set(args.operationName ?? '', measured);
      fixedCosts.set(args.document, costs);
    }
    return errors;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const errors = check(args);
      if (errors.length) setResultAndStopExecution({ errors });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const errors = check(args);
      if (errors.length) setResultAndStopExecution({ errors });
    },
  };
}

/** Whether a variable can change what the document costs: the only costs that read arguments read `first`. */
function costDependsOnVariables(document: DocumentNode): boolean {
  let depends = false;
  visit(document, {
    Argument(node, _key, _parent, _path, ancestors) {
      if (node.value.kind !== Kind.VARIABLE) return;
      const owner = ancestors.at(-1);
      if (node.name.value === 'first' || (owner && 'kind' in owner && owner.kind === Kind.DIRECTIVE)) depends = true;
    },
  });
  return depends;
}
