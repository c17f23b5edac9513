import type { ProviderHarness } from '../harness.ts';

// Not written yet: the contract suite skips a provider whose harness is undefined.
export const mimsmsHarness: ProviderHarness<any> | undefined = undefined;
