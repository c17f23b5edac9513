import pMap from 'p-map';
import type { Logger } from '../logger.ts';
import type { StatusReport } from './types.ts';

/**
 * Asks for the status of each group (a message id, a reference) with its own request, and keeps
 * every report read: a request that fails (paced, 429, a timeout) leaves its deliveries out, to
 * be polled again, without losing the others'. Throws only when no request got an answer.
 */
export async function pollEach<G>(
  groups: readonly G[],
  ask: (group: G) => Promise<StatusReport[]>,
  options: { logger: Logger; provider: string; concurrency?: number },
): Promise<StatusReport[]> {
  const failures: Error[] = [];
  const reports = await pMap(
    groups,
    (group) =>
      ask(group).catch((error: unknown) => {
        failures.push(error as Error);
        return [];
      }),
    { concurrency: options.concurrency ?? 1 },
  );
  if (groups.length > 0 && failures.length === groups.length) throw failures[0]!;
  if (failures.length > 0) {
    options.logger.warn({ failed: failures.length, asked: groups.length, first: failures[0]!.message }, `${options.provider} status requests failed; polled again later`);
  }
  return reports.flat();
}
