import { spawn } from 'node:child_process';

export interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Run a program to completion, as another OS user when `as` is given (the server binaries
 * refuse to run as root). Messages are forced to English so failures can be recognised.
 */
export function exec(
  file: string,
  args: string[],
  options: { as?: RunAs | undefined; cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: options.cwd ?? '/',
      env: { ...serverEnv(options.env), ...(options.as ? { HOME: '/', USER: options.as.name, LOGNAME: options.as.name } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(options.as ? { uid: options.as.uid, gid: options.as.gid } : {}),
      ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * The environment for server binaries: the caller's, minus libpq variables that would change
 * what pg_ctl and postgres do, with English messages.
 */
export function serverEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG') && !key.startsWith('LC_') && key !== 'LANG' && key !== 'LANGUAGE') env[key] = value;
  }
  return { ...env, LC_ALL: 'C', LANG: 'C', ...extra };
}
