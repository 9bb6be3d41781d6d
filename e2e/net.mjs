// Loopback helpers shared by the e2e tests.
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

// freePort asks the kernel for a loopback port nobody listens on.
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

// waitForPort resolves once something accepts connections on port, and
// fails at once if proc, the process that should listen, has exited; log
// gives its output for the error.
export async function waitForPort(port, proc, log, ms = 20000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`caddy exited (${proc.exitCode}):\n${log()}`);
    const up = await new Promise((ok) => {
      const s = connect(port, '127.0.0.1');
      s.on('connect', () => { s.destroy(); ok(true); });
      s.on('error', () => ok(false));
    });
    if (up) return;
    await sleep(50);
  }
  throw new Error(`caddy did not listen on ${port}:\n${log()}`);
}

// spawnCaddy runs `caddy run` on the Caddyfile in work, with its config
// and data dirs inside work too, and hands its output to onLog.
export function spawnCaddy(bin, work, onLog) {
  const proc = spawn(bin, ['run', '--config', join(work, 'Caddyfile'), '--adapter', 'caddyfile'], {
    cwd: work,
    env: { ...process.env, XDG_CONFIG_HOME: join(work, 'config'), XDG_DATA_HOME: join(work, 'data') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout.on('data', onLog);
  proc.stderr.on('data', onLog);
  return proc;
}

// stopCaddy interrupts proc and kills it if it has not exited 5 s later.
// The timer is unref'd: once Caddy has exited, it keeps Node alive no
// longer.
export async function stopCaddy(proc) {
  if (!proc || proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGINT');
  await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
  if (proc.exitCode === null) proc.kill('SIGKILL');
}
