// Starts the real todo-server (the debug binary scripts/test.sh builds) on
// port 0 against the local Neon-like PostgreSQL, the way the end-to-end tests
// do, and deletes the users a test registered when it stops.

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

const STARTUP_LIMIT_MS = 60_000;
const READY = /listening on (http:\/\/127\.0\.0\.1:\d+)/;

function databaseUrl() {
  if (process.env.DATABASE_URL) return process.env.DATABASE_URL;
  return execFileSync(path.join(repoRoot, 'scripts/neon-local.sh'), ['--test', 'url'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

function serverBinary() {
  if (process.env.TODO_SERVER_BIN) return process.env.TODO_SERVER_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target');
  return path.join(target, 'debug', 'todo-server');
}

/** A running server: `baseUrl`, `uniqueEmail()`, `stop()`. `env` adds
 * settings to its environment. */
export async function startServer({ env: extra = {} } = {}) {
  const dbUrl = databaseUrl();
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: dbUrl,
    JWT_SECRET: randomBytes(32).toString('hex'),
    PORT: '0',
    APP_ENV: 'test',
    APP_CONFIG_DIR: path.join(repoRoot, 'config'),
    ...extra,
  };
  const child = spawn(serverBinary(), [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk) => {
    output += chunk;
    if (process.env.TEST_LOG) process.stderr.write(chunk);
  };
  child.stderr.setEncoding('utf8').on('data', collect);
  child.stdout.setEncoding('utf8');

  const baseUrl = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`todo-server did not start within ${STARTUP_LIMIT_MS} ms:\n${output}`));
    }, STARTUP_LIMIT_MS);
    child.stdout.on('data', (chunk) => {
      collect(chunk);
      const match = READY.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`todo-server exited (${code ?? signal}) before listening:\n${output}`));
    });
  });

  const emails = [];
  const run = randomBytes(6).toString('hex');
  return {
    baseUrl,
    /** An address no other test or run uses; deleted with its data on stop(). */
    uniqueEmail(label) {
      const email = `browser-${label}-${run}-${emails.length}@example.com`;
      emails.push(email);
      return email;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      for (const email of emails) {
        // psql quotes :'email' as a literal; sessions and tasks cascade.
        execFileSync('psql', [dbUrl, '-v', `email=${email}`, '-q', '-v', 'ON_ERROR_STOP=1'], {
          input: "DELETE FROM users WHERE lower(email) = lower(:'email');\n",
          stdio: ['pipe', 'ignore', 'inherit'],
        });
      }
    },
  };
}
