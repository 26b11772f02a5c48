import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Product } from '../../src/catalog/catalog-file.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A role running as its own `node src/main.ts` process, so a test can kill -9 it. */
export interface RoleProcess {
  child: ChildProcess;
  /** Log lines (pino JSON) the process printed. */
  logs: string[];
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export function writeCatalog(products: Product[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'purchase-proc-'));
  const file = path.join(dir, 'catalog.json');
  writeFileSync(file, JSON.stringify({ products }));
  return file;
}

/** Starts `src/main.ts` with ROLES and env; resolves once it logged that it is up. */
export async function startRole(roles: string, env: Record<string, string>, timeoutMs = 20_000): Promise<RoleProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env, ROLES: roles },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let buffered = '';
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    logs.push(...lines);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const wanted = roles
    .split(',')
    .map(
      (r) =>
        ({ gateway: 'gateway listening', workers: 'workers started', auth: 'auth server listening' })[
          r.trim() as 'gateway'
        ],
    );
  const deadline = Date.now() + timeoutMs;
  while (!wanted.every((w) => logs.some((l) => l.includes(w)))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${roles} did not start:\n${logs.slice(-20).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    child,
    logs,
    exited,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
