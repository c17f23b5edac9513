import '../accounts/schema.ts';
import '../accounts/sub-accounts-schema.ts';
import '../accounts/ledger-schema.ts';
import '../accounts/access-token-schema.ts';
import '../messages/schema.ts';
import '../deliveries/schema.ts';
import '../deliveries/summary.ts';
import '../webhooks/schema.ts';
import '../optouts/schema.ts';
import '../routing/schema.ts';
import { builder } from './builder.ts';

export const schema = builder.toSchema({ sortSchema: false });
