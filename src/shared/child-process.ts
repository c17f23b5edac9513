import { execFile, type ExecFileOptions } from 'node:child_process';
import { promisify } from 'node:util';
import { StartFailure } from './start-failure.ts';

const run = promisify(execFile);

/** What a failure to start a program means, in words (the codes of spawn, from the system). */
const SPAWN_FAILURES: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOEXEC: 'not an executable for this system',
};
const MAX_DETAIL = 400;

/**
 * Runs a program to its end. Any failure, to start it or of the program itself, is a
 * StartFailure naming `what` was being done and the reason the program gave, in one line.
 */
export async function runChild(what: string, file: string, args: readonly string[], options: ExecFileOptions = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(file, args, options);
    return { stdout: String(stdout), stderr: String(stderr) };
  } catch (error) {
    throw childFailure(what, file, error);
  }
}

/** A failure of a program run with execFile, as a StartFailure (see runChild). */
export function childFailure(what: string, file: string, error: unknown): StartFailure {
  return new StartFailure(`${what} failed: ${reasonOf(error as ChildError, file)}`);
}

type ChildError = Error & { code?: string | number | null; signal?: string | null; stdout?: unknown; stderr?: unknown };

function reasonOf(error: ChildError, file: string): string {
  if (typeof error.code === 'string') return `cannot run ${file} (${SPAWN_FAILURES[error.code] ?? error.code})`;
  const ended = error.signal ? `killed by ${error.signal}` : `exit ${error.code}`;
  const said = errorPart(String(error.stderr ?? '')) || errorPart(String(error.stdout ?? ''));
  return said ? `${ended}: ${said}` : ended;
}

/** The part of a program's output that says what went wrong: from its first error line on, in one line. */
export function errorPart(output: string): string {
  const lines = output.split('\n').map((line) => line.trim()).filter(Boolean);
  const first = lines.findIndex((line) => /error|fatal|panic/i.test(line));
  const text = lines.slice(first === -1 ? Math.max(0, lines.length - 1) : first).join(' ');
  return text.length > MAX_DETAIL ? `${text.slice(0, MAX_DETAIL)}…` : text;
}
