/**
 * A local Stripe-compatible API server for the tests, as its own process:
 *   tsx harness/stripe/server.ts [port]      (or PORT=…; HOST defaults to 127.0.0.1; STRIPE_API_KEY pins the key)
 * Once listening it prints one JSON line on stdout: {"url","host","port"}.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { StripeApp } from './app.js';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const app = new StripeApp(process.env.STRIPE_API_KEY || undefined);
const server = http.createServer(app.handle);

server.listen(port, host, () => {
  const { port: bound } = server.address() as AddressInfo;
  app.baseUrl = `http://${host}:${bound}`;
  process.stdout.write(`${JSON.stringify({ url: app.baseUrl, host, port: bound })}\n`);
});

function shutdown(): void {
  server.close(() => process.exit(0));
  server.closeAllConnections();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// Started by startStripeServer: the parent holds our stdin; when it goes away, so do we.
if (process.env.STRIPE_SERVER_EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.on('close', shutdown);
  process.stdin.resume();
}
