import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type GatewayProcess = {
  child: ChildProcess;
  url: string;
  logs: string[];
  /** Resolves with the exit code once the gateway process has gone (for `npm start`: npm's code). */
  exited: Promise<number | null>;
  /** Signals the gateway (for `npm start`: its whole process group, as a terminal's Ctrl-C or a supervisor does). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

/**
 * A command run as if this project were cloned at `projectDir`: the checkout is bind-mounted
 * there in a mount namespace of the command's own, which goes with it (root only).
 */
export function inProjectAt(projectDir: string, command: readonly string[]): { file: string; args: string[] } {
  const script = 'mount --bind "$1" "$2" && cd "$2" && shift 2 && exec "$@"';
  return { file: 'unshare', args: ['--mount', 'sh', '-c', script, 'sh', ROOT, projectDir, ...command] };
}

/**
 * Runs the gateway and resolves once it listens: by default `src/main.ts` as `npm start` runs
 * it (one node process, so signals reach it); with `npm: true`, the real `npm start`, in a
 * clone at `projectAt` when given (see inProjectAt).
 */
export function spawnGateway(env: Record<string, string | undefined>, options: { npm?: boolean; projectAt?: string } = {}): Promise<GatewayProcess> {
  const npmStart = options.projectAt ? inProjectAt(options.projectAt, ['npm', 'start']) : { file: 'npm', args: ['start'] };
  const child = options.npm
    ? spawn(npmStart.file, npmStart.args, { cwd: ROOT, env: gatewayEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: gatewayEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exitCode = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // npm may exit on a signal before the gateway under it has finished: the gateway has gone
  // once nobody holds its output open any more.
  const closed = new Promise<void>((resolve) => child.stdout!.on('close', resolve));
  const exited = Promise.all([exitCode, closed]).then(([code]) => code);
  const alive = () => child.exitCode === null && child.signalCode === null;
  return new Promise((resolve, reject) => {
    const onLine = (line: string) => {
      logs.push(line);
      if (!line.includes('"gateway listening"')) return;
      const { port } = JSON.parse(line) as { port: number };
      resolve({
        child,
        url: `http://127.0.0.1:${port}`,
        logs,
        exited,
        async stop(signal = 'SIGTERM') {
          if (options.npm) {
            try {
              process.kill(-child.pid!, signal);
            } catch {
              // The group has gone.
            }
          } else if (alive()) {
            child.kill(signal);
          }
          return exited;
        },
      });
    };
    createInterface({ input: child.stdout! }).on('line', onLine);
    createInterface({ input: child.stderr! }).on('line', (line) => logs.push(line));
    void exited.then((code) => reject(new Error(`gateway exited (${code}) before listening:\n${logs.join('\n')}`)));
  });
}

/** The test's environment for a gateway process; a variable given as undefined is removed. */
function gatewayEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const merged: NodeJS.ProcessEnv = { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', REDIS_PREFIX: `sgw-test-${process.pid}`, ...env };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

/** Re-checks an asynchronous condition until it holds; for state only visible from outside a process. */
export async function eventually<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function liveSubscribers(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = /^sms_gateway_live_subscribers (\d+)/m.exec(text);
  return Number(match?.[1] ?? 0);
}

/** How many delivery updates of `provider` to `status` a gateway process recorded itself (its /metrics). */
export async function updatesRecordedBy(url: string, provider: string, status: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = new RegExp(`^sms_gateway_delivery_updates_total\\{provider="${provider}",status="${status}"\\} (\\d+)`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}
