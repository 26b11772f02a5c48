import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** The body as received, byte for byte (what a signature covers). */
  raw: string;
  at: number;
}

export type Behaviour = 'ok' | 'fail' | 'hang' | { slowMs: number } | { status: number };

/**
 * A real local HTTP service standing in for an external integration or a
 * webhook receiver: records every request and answers as `behaviour` says.
 */
export async function startFakeService(initial: Behaviour = 'ok') {
  const requests: RecordedRequest[] = [];
  let behaviour: Behaviour = initial;
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      let body: any = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        /* keep raw */
      }
      requests.push({ path: req.url ?? '/', headers: req.headers, body, raw, at: Date.now() });
      const answer = (status: number) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify(
            status < 300 ? { externalRef: `ext-${body?.provisionedId ?? requests.length}` } : { error: 'failed' },
          ),
        );
      };
      if (behaviour === 'ok') answer(200);
      else if (behaviour === 'fail') answer(500);
      else if (behaviour === 'hang') hanging.add(res);
      else if ('slowMs' in behaviour) setTimeout(() => answer(200), behaviour.slowMs);
      else answer(behaviour.status);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/provision`,
    requests,
    set(next: Behaviour) {
      behaviour = next;
    },
    async stop() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
