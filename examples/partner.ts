/**
 * A partner service, as small as one can be (docs/partners.md): it verifies every call from the
 * purchase system with the secret both sides share (Standard Webhooks), answers a provision with
 * 202 and reports back once the work is done, signed the same way, and answers a deprovision at
 * once. The tests run it against the system (test/example-partner.test.ts).
 *
 *   PARTNER_SECRET=whsec_… PORT=4000 npx tsx examples/partner.ts
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { Webhook } from 'standardwebhooks';

interface Call {
  event: 'provision' | 'deprovision';
  provisionedId: string;
  productId: string;
  callbackUrl?: string;
}

/** The partner's HTTP server; `workMs` is how long provisioning takes. */
export function examplePartner(secret: string, opts: { workMs?: number } = {}): http.Server {
  const webhook = new Webhook(secret);
  // A retried call carries the same Idempotency-Key: the work is started once, reported once.
  const started = new Set<string>();
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let call: Call;
      try {
        // Over the exact bytes received, with the 5-minute tolerance: a replayed or forged call fails here.
        call = webhook.verify(raw, req.headers as Record<string, string>) as Call;
      } catch {
        return answer(res, 401, { error: 'invalid signature' });
      }
      if (call.event === 'deprovision') return answer(res, 200, { removed: call.provisionedId });
      const externalRef = `ex-${call.provisionedId}`;
      answer(res, 202, { externalRef });
      const key = String(req.headers['idempotency-key']);
      if (started.has(key) || !call.callbackUrl) return;
      started.add(key);
      setTimeout(() => void report(webhook, call.callbackUrl!, { status: 'active', externalRef }), opts.workMs ?? 1000);
    });
  });
}

function answer(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** POSTs the outcome, signed, retrying while the system is unreachable or answers 5xx (one message id throughout). */
async function report(webhook: Webhook, url: string, outcome: { status: 'active' | 'failed'; externalRef: string }) {
  const payload = JSON.stringify(outcome);
  const id = `msg_${randomUUID()}`;
  for (let attempt = 0; attempt < 8; attempt++) {
    const at = new Date();
    const status = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
        'webhook-signature': webhook.sign(id, at, payload),
      },
      body: payload,
    }).then(
      (r) => r.status,
      () => 0,
    );
    // 204 taken; a 4xx is final (409: the purchase no longer waits for this unit).
    if (status >= 200 && status < 500) return;
    await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 4000);
  examplePartner(process.env.PARTNER_SECRET!).listen(port, '127.0.0.1', () =>
    console.log(`example partner on http://127.0.0.1:${port}/provision`),
  );
}
