import type { StandardSchemaV1 } from '@standard-schema/spec';
import { GatewayError, isErrorCode } from './errors.ts';

/**
 * Validation issues carry the contract's error code in `params.code` (see `withCode`); the
 * first issue decides the code of the error, and every issue is listed in its extensions.
 */
export function validationError(result: StandardSchemaV1.FailureResult): GatewayError {
  const issues = result.issues.map((issue) => ({
    path: (issue.path ?? []).map((p) => (typeof p === 'object' ? p.key : p)).join('.'),
    message: issue.message,
    code: codeOf(issue),
  }));
  const first = issues[0]!;
  return new GatewayError(first.code, first.path ? `${first.path}: ${first.message}` : first.message, { issues });
}

function codeOf(issue: StandardSchemaV1.Issue): ReturnType<typeof codeOrDefault> {
  const params = (issue as { params?: { code?: unknown } }).params;
  return codeOrDefault(params?.code);
}

function codeOrDefault(code: unknown) {
  return isErrorCode(code) ? code : 'BAD_USER_INPUT';
}
