// Loopback helpers shared by the e2e tests.
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

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
