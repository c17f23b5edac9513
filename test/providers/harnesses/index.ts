import type { ProviderHarness } from '../harness.ts';
import { mifumoHarness } from './mifumo.ts';
import { mimsmsHarness } from './mimsms.ts';
import { mtnCongoHarness } from './mtn_congo.ts';
import { nextsmsHarness } from './nextsms.ts';

/** Every upstream provider's harness; the contract suite runs once per entry. */
export const HARNESSES = [mifumoHarness, mimsmsHarness, mtnCongoHarness, nextsmsHarness].filter(
  (harness): harness is ProviderHarness<any> => harness !== undefined,
);
