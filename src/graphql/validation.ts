import type { ErrorCode } from './errors.ts';

/** Refinement options that make a failed check report `code` (read by validation-errors.ts). */
export function coded(code: ErrorCode, message: string) {
  return { message, params: { code } };
}
