import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import PrismaPlugin from '@pothos/plugin-prisma';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import ValidationPlugin from '@pothos/plugin-validation';
import { DateTimeISOResolver, JSONResolver } from 'graphql-scalars';
import type PrismaTypes from '../db/generated/pothos-types.ts';
import { getDatamodel } from '../db/generated/pothos-types.ts';
import { fieldComplexity } from './complexity.ts';
import type { GraphQLContext } from './context.ts';
import { GatewayError } from '../shared/errors.ts';
import { validationError } from '../shared/validation-errors.ts';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  PrismaTypes: PrismaTypes;
  /**
   * send, read: the whole account's; readMessage: read, or read one message with a token limited
   * to it; admin: keys, sub-accounts and their credit.
   */
  AuthScopes: { send: boolean; read: boolean; readMessage: boolean; admin: boolean };
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
    ID: { Input: string; Output: string };
  };
}>({
  plugins: [ScopeAuthPlugin, PrismaPlugin, RelayPlugin, ValidationPlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: ({ caller }) => {
      const wholeAccount = !caller.token?.messageId;
      return {
        send: wholeAccount && caller.scopes.includes('send'),
        read: wholeAccount && caller.scopes.includes('read'),
        readMessage: caller.scopes.includes('read'),
        admin: caller.scopes.includes('admin'),
      };
    },
    unauthorizedError: (_parent, _context, info) =>
      new GatewayError('INSUFFICIENT_PERMISSIONS', `This API key may not use ${info.parentType.name}.${info.fieldName}.`),
  },
  prisma: {
    client: (context) => context.services.db,
    dmmf: getDatamodel(),
    filterConnectionTotalCount: true,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Node lookups would bypass the per-account resolvers; every type has its own query.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
  validation: { validationError },
  // Costs per field only; the limit is checked per request, with its variables (complexity.ts).
  complexity: { disabled: true, fieldComplexity },
});

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

builder.addScalarType('DateTime', DateTimeISOResolver);
builder.addScalarType('JSON', JSONResolver);
