import { z } from 'zod';
import type { ErrorCode } from './errors.ts';

/** Refinement options that make a failed check report `code` (read by validation-errors.ts). */
export function coded(code: ErrorCode, message: string) {
  return { message, params: { code } };
}

/**
 * Text the database can store and providers can encode: PostgreSQL text and jsonb refuse NUL,
 * and a lone surrogate has no UTF-8 form.
 */
export const storableText = z
  .string()
  .refine((text) => !text.includes('\u0000'), 'NUL characters are not allowed')
  .refine((text) => text.isWellFormed(), 'not well-formed Unicode (a lone surrogate)');

/** Whether a text has anything visible: spaces and invisible format characters do not count. */
export function hasVisibleText(text: string): boolean {
  return text.replace(/[\s\p{Cf}]/gu, '').length > 0;
}
