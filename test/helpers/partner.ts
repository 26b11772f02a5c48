import { once } from 'node:events';
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export type PartnerEvent = 'provision' | 'deprovision';
/** How a callback is signed: with the partner's secret, not at all, or with another secret (a forgery). */
export type Signing = 'valid' | 'unsigned' | 'bad';
/** A received call's signature as the receiver side of `standardwebhooks` finds it (`unchecked`: the partner has no secret). */
export type SignatureCheck = 'valid' | 'missing' | 'invalid' | 'unchecked';

/** Answers in the call itself: 200, 500, never, 200 after a while, or any status. */
export type SyncBehaviour = 'ok' | 'fail' | 'hang' | { slowMs: number } | { status: number };
export interface AsyncPlan {
  after: number;
  outcome: 'active' | 'failed';
  reason?: string;
  /** 2: the same callback (same webhook-id) sent again once the first was answered. */
  times?: number;
  signing?: Signing;
}
/** `async`: 202 now, the callback later (`never`: no callback at all); only provision calls are asynchronous. */
export type PartnerBehaviour = SyncBehaviour | { async: AsyncPlan | 'never' };

export interface PartnerCall {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  /** The body as received, byte for byte (what a signature covers). */
  raw: string;
  at: number;
  signature: SignatureCheck;
  /** The status the partner answered; unset while it hangs. */
  status?: number;
}

export interface CallbackBody {
  status: 'active' | 'failed';
  externalRef?: string;
  reason?: string;
}

export interface PartnerCallback {
  url: string;
  provisionedId: string;
  body: unknown;
  signing: Signing;
  at: number;
  /** Our side's answer; status 0 when it could not be reached. */
  status: number;
  answer: unknown;
}

export interface PartnerOptions {
  /** `whsec_…`; a fresh one when left out; `null`: a partner without a secret, which takes every call. */
  secret?: string | null;
  behaviour?: PartnerBehaviour;
  /** Take calls that carry no signature (a badly signed one is still refused). */
  acceptUnsigned?: boolean;
  /** false: every call runs the current behaviour, even a redelivery of work already done. */
  idempotent?: boolean;
}

export type TestPartner = Awaited<ReturnType<typeof startTestPartner>>;

type Answer = { status: number; body: unknown };

/** A Standard Webhooks secret: `whsec_` and 24 random bytes in base64. */
export function newPartnerSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

const parse = (raw: string): any => {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
};
const header = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(',') : (value ?? ''));
const externalRef = (body: any, n: number) => `ext-${body?.provisionedId ?? n}`;
/** Contract §5.1: a callback URL ends with the unit's id. */
const unitOf = (url: string) => decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');

/**
 * A real local HTTP service standing in for a partner (contract §5.1): checks every call's Standard Webhooks
 * signature and refuses (401) what it cannot verify, answers as the behaviour for the call's product and event
 * says, replays the answer to work already done for a repeated Idempotency-Key, and calls back as told.
 */
export async function startTestPartner(opts: PartnerOptions = {}) {
  const secret = opts.secret === undefined ? newPartnerSecret() : opts.secret;
  const verifier = secret ? new Webhook(secret) : undefined;
  const calls: PartnerCall[] = [];
  const callbacks: PartnerCallback[] = [];
  // Keyed `<productId>/<event>`, `*` for any: the most specific one set answers.
  const rules = new Map<string, PartnerBehaviour>([['*/*', opts.behaviour ?? 'ok']]);
  // Only answers to work done or accepted: a partner that failed did nothing, so a retry runs afresh.
  const done = new Map<string, Promise<Answer>>();
  const hanging = new Set<http.ServerResponse>();
  const timers = new Set<NodeJS.Timeout>();
  const stopping = new AbortController();

  const later = (ms: number, then: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      then();
    }, ms);
    timers.add(timer);
  };
  const wait = (ms: number) => (ms > 0 ? new Promise<void>((r) => later(ms, r)) : Promise.resolve());

  const check = (raw: string, h: http.IncomingHttpHeaders): SignatureCheck => {
    if (!h['webhook-signature']) return 'missing';
    if (!verifier) return 'unchecked';
    const signed = ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((k) => [k, header(h[k])]);
    try {
      verifier.verify(raw, Object.fromEntries(signed));
      return 'valid';
    } catch {
      return 'invalid';
    }
  };

  const behaviourFor = (body: any): PartnerBehaviour => {
    const [p, e] = [String(body?.productId), String(body?.event)];
    const b = rules.get(`${p}/${e}`) ?? rules.get(`${p}/*`) ?? rules.get(`*/${e}`) ?? rules.get('*/*')!;
    // Removing something is quick for a real partner: only provisioning is asynchronous.
    return typeof b === 'object' && 'async' in b && e !== 'provision' ? 'ok' : b;
  };

  const statusOf = (b: Exclude<PartnerBehaviour, 'hang'>, body: any) => {
    if (b === 'ok' || (typeof b === 'object' && 'slowMs' in b)) return 200;
    if (b === 'fail') return 500;
    if ('status' in b) return b.status;
    return body?.callbackUrl ? 202 : 400;
  };

  const send = (res: http.ServerResponse, call: PartnerCall, a: Answer) => {
    call.status = a.status;
    if (!res.destroyed) res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string) {
    const call: PartnerCall = {
      path: req.url ?? '/',
      headers: req.headers,
      body: parse(raw),
      raw,
      at: Date.now(),
      signature: check(raw, req.headers),
    };
    calls.push(call);
    const unsignedOk = !verifier || opts.acceptUnsigned;
    if (call.signature === 'invalid' || (call.signature === 'missing' && !unsignedOk)) {
      return send(res, call, { status: 401, body: { error: 'invalid_signature' } });
    }
    const key = opts.idempotent === false ? '' : header(req.headers['idempotency-key']);
    const earlier = key ? done.get(key) : undefined;
    if (earlier) return send(res, call, await earlier);
    const b = behaviourFor(call.body);
    if (b === 'hang') return void hanging.add(res);
    const status = statusOf(b, call.body);
    const body = status < 300 ? { externalRef: externalRef(call.body, calls.length) } : { error: 'failed' };
    const answer = wait(typeof b === 'object' && 'slowMs' in b ? b.slowMs : 0).then(() => ({ status, body }));
    if (key && status < 300) done.set(key, answer);
    send(res, call, await answer);
    if (status === 202 && typeof b === 'object' && 'async' in b && b.async !== 'never') callBackLater(call, b.async);
  }

  function callBackLater(call: PartnerCall, plan: AsyncPlan) {
    const reason = plan.reason ?? (plan.outcome === 'failed' ? 'refused by the test partner' : undefined);
    const body: CallbackBody = {
      status: plan.outcome,
      externalRef: externalRef(call.body, 0),
      ...(reason ? { reason } : {}),
    };
    const sendAll = async (msgId: string) => {
      for (let i = 0; i < (plan.times ?? 1) && !stopping.signal.aborted; i++) {
        await post(call.body.callbackUrl, body, { signing: plan.signing ?? 'valid', msgId });
      }
    };
    later(plan.after, () => void sendAll(`msg_${randomUUID()}`));
  }

  async function post(url: string, body: unknown, o: { signing: Signing; msgId: string; timestamp?: Date }) {
    const payload = JSON.stringify(body);
    const signing: Signing = o.signing === 'valid' && !secret ? 'unsigned' : o.signing;
    const at = o.timestamp ?? new Date();
    const signer = signing === 'unsigned' ? undefined : new Webhook(signing === 'bad' ? newPartnerSecret() : secret!);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (signer) {
      headers['webhook-id'] = o.msgId;
      headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
      headers['webhook-signature'] = signer.sign(o.msgId, at, payload);
    }
    const record: PartnerCallback = {
      url,
      provisionedId: unitOf(url),
      body,
      signing,
      at: Date.now(),
      status: 0,
      answer: undefined,
    };
    try {
      const res = await fetch(url, { method: 'POST', headers, body: payload, signal: stopping.signal });
      record.status = res.status;
      record.answer = parse(await res.text());
    } catch (err) {
      record.answer = (err as Error).message;
    }
    callbacks.push(record);
    return record;
  }

  const server = http.createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => void handle(req, res, raw));
  });
  await once(server.listen(0, '127.0.0.1'), 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks/provision`,
    secret,
    calls,
    callbacks,
    /** The behaviour for every call, or only for one product's calls, one event's, or both. */
    set(behaviour: PartnerBehaviour, scope: { productId?: string; event?: PartnerEvent } = {}) {
      rules.set(`${scope.productId ?? '*'}/${scope.event ?? '*'}`, behaviour);
    },
    /**
     * Sends a callback now: to the callbackUrl of a unit's last provision call, of a call, or to a URL
     * (one that starts with `http`), signed now or at `timestamp`. Resolves once our side answered, with that answer.
     */
    callBack(
      to: string | PartnerCall,
      body?: CallbackBody | Record<string, unknown>,
      o: { signing?: Signing; timestamp?: Date } = {},
    ): Promise<PartnerCallback> {
      const byUnit = (id: string) => calls.filter((c) => c.body?.provisionedId === id && c.body?.callbackUrl).at(-1);
      const call = typeof to === 'string' ? byUnit(to) : to;
      const url: string | undefined =
        call?.body?.callbackUrl ?? (typeof to === 'string' && /^https?:/.test(to) ? to : undefined);
      if (!url) return Promise.reject(new Error(`no callbackUrl known for ${typeof to === 'string' ? to : to.path}`));
      const sent = body ?? { status: 'active', externalRef: `ext-${unitOf(url)}` };
      return post(url, sent, { ...o, signing: o.signing ?? 'valid', msgId: `msg_${randomUUID()}` });
    },
    /** Ends hanging answers and in-flight callbacks and cancels every one not yet sent. */
    async stop() {
      stopping.abort();
      for (const timer of timers) clearTimeout(timer);
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}
