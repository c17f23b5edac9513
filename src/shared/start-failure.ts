/**
 * Why the gateway or a CLI command cannot start, said so that the user can act on it: printed
 * as one line (no stack trace) before a non-zero exit.
 */
export class StartFailure extends Error {
  constructor(message: string) {
    // One line, whatever a child process printed.
    super(message.replace(/\s*\n\s*/g, ' ').trim());
  }
}
