import http from 'node:http';
import type Stripe from 'stripe';
import { control, CONTROL_PREFIX, type ControlDeps, type RequestRecord } from './control.js';
import { invalid, noSuch, StripeHttpError, unrecognized, type StripeErrorBody } from './errors.js';
import { Events, type RequestContext } from './events.js';
import { Faults, type Fault } from './faults.js';
import { canonical, parseForm, Params } from './form.js';
import { newId } from './ids.js';
import { Idempotency } from './idempotency.js';
import { Ledger, listPage } from './ledger.js';
import { PaymentIntents } from './payment-intents.js';
import { Refunds } from './refunds.js';
import { ACTION_PATH, actionUrl, ThreeDSecurePage } from './three-d-secure.js';
import { Transitions } from './transitions.js';
import { Webhooks } from './webhooks.js';

type Route = [method: string, path: RegExp, handler: (id: string, p: Params, ctx: RequestContext) => unknown];
const MAX_BODY = 1024 * 1024;
const MAX_LOG = 2000;

/** The whole server, in memory: Stripe's API under `/v1`, the 3-D Secure page, the control API. */
export class StripeApp {
  readonly ledger = new Ledger();
  readonly faults = new Faults();
  readonly idempotency = new Idempotency(() => this.ledger.now());
  readonly webhooks = new Webhooks(this.ledger);
  readonly requests: RequestRecord[] = [];
  private readonly events = new Events(this.ledger, this.webhooks);
  private readonly transitions = new Transitions(this.ledger, this.events, (pi) => actionUrl(this.baseUrl, pi));
  private readonly intents = new PaymentIntents(this.ledger, this.events, this.transitions);
  private readonly refunds = new Refunds(this.ledger, this.events);
  private readonly page = new ThreeDSecurePage(this.ledger, this.transitions);
  private readonly routes: Route[];
  private readonly controlDeps: ControlDeps;
  baseUrl = '';

  constructor(private readonly apiKey?: string) {
    const { ledger, faults, idempotency, webhooks, transitions, requests } = this;
    this.controlDeps = { ledger, faults, idempotency, webhooks, transitions, requests };
    const pi = this.intents;
    const rf = this.refunds;
    this.routes = [
      ['POST', /^\/v1\/payment_intents$/, (_, p, c) => pi.create(p, c)],
      ['GET', /^\/v1\/payment_intents$/, (_, p) => pi.list(p)],
      ['GET', /^\/v1\/payment_intents\/search$/, (_, p) => pi.search(p)],
      ['GET', /^\/v1\/payment_intents\/([^/]+)$/, (id, p) => pi.retrieve(id, p)],
      ['POST', /^\/v1\/payment_intents\/([^/]+)$/, (id, p) => pi.update(id, p)],
      ['POST', /^\/v1\/payment_intents\/([^/]+)\/confirm$/, (id, p, c) => pi.confirm(id, p, c)],
      ['POST', /^\/v1\/payment_intents\/([^/]+)\/capture$/, (id, p, c) => pi.capture(id, p, c)],
      ['POST', /^\/v1\/payment_intents\/([^/]+)\/cancel$/, (id, p, c) => pi.cancel(id, p, c)],
      ['POST', /^\/v1\/refunds$/, (_, p, c) => rf.create(p, c)],
      ['GET', /^\/v1\/refunds$/, (_, p) => rf.list(p)],
      ['GET', /^\/v1\/refunds\/([^/]+)$/, (id, p) => rf.retrieve(id, p)],
      ['POST', /^\/v1\/refunds\/([^/]+)$/, (id, p) => rf.update(id, p)],
      ['GET', /^\/v1\/charges$/, (_, p) => rf.charges(p)],
      ['GET', /^\/v1\/charges\/([^/]+)$/, (id, p) => rf.charge(id, p)],
      ['GET', /^\/v1\/events$/, (_, p) => this.listEvents(p)],
      ['GET', /^\/v1\/events\/([^/]+)$/, (id, p) => this.event(id, p)],
    ];
  }

  readonly handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    this.dispatch(req, res).catch((err: unknown) => {
      console.error('stripe server: unexpected error', err);
      if (!res.headersSent)
        send(res, 500, { 'content-type': 'application/json' }, JSON.stringify({ error: 'internal' }));
    });
  };

  private async dispatch(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    if (url.pathname.startsWith(`${CONTROL_PREFIX}/`)) {
      let json: Record<string, unknown>;
      try {
        json = body ? (JSON.parse(body) as Record<string, unknown>) : {};
      } catch {
        return send(res, 400, { 'content-type': 'application/json' }, JSON.stringify({ error: 'body is not JSON' }));
      }
      const answer = control(this.controlDeps, method, url, json);
      return send(res, answer.status, { 'content-type': 'application/json' }, JSON.stringify(answer.json, null, 2));
    }
    if (url.pathname === ACTION_PATH && method === 'GET') return sendPage(res, this.page.show(url.searchParams));
    const settle = new RegExp(`^${ACTION_PATH}/(complete|fail)$`).exec(url.pathname);
    if (settle && method === 'POST') {
      return sendPage(res, this.page.settle(settle[1] as 'complete' | 'fail', new URLSearchParams(body)));
    }
    return this.api(req, res, method, url, body);
  }

  /** Stripe's request pipeline: auth, faults, parameters, idempotency, latency, the endpoint, the answer. */
  private async api(req: http.IncomingMessage, res: http.ServerResponse, method: string, url: URL, body: string) {
    const requestId = newId('req', 14);
    const key = method === 'POST' ? (header(req, 'idempotency-key') ?? null) : null;
    const apiVersion = header(req, 'stripe-version') ?? null;
    const record: RequestRecord = {
      request_id: requestId,
      method,
      path: url.pathname,
      idempotency_key: key,
      status: null,
      replayed: false,
      fault: null,
    };
    this.requests.push(record);
    if (this.requests.length > MAX_LOG) this.requests.shift();
    const headers: Record<string, string> = { 'content-type': 'application/json', 'request-id': requestId };
    if (apiVersion) headers['stripe-version'] = apiVersion;
    if (key) headers['idempotency-key'] = key;
    const reply = (status: number, payload: string, extra: Record<string, string> = {}) => {
      record.status = status;
      send(res, status, { ...headers, ...extra }, payload);
    };
    const fail = (e: StripeHttpError) => reply(e.status, errorBody(e.body), e.headers);

    if (!this.authorized(header(req, 'authorization'))) {
      return fail(
        new StripeHttpError(401, {
          type: 'invalid_request_error',
          message:
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        }),
      );
    }
    const fault = this.faults.take(method, url.pathname);
    record.fault = fault?.kind ?? null;
    const delay = this.faults.delayFor(method, url.pathname);
    if (fault && fault.kind !== 'drop') {
      await sleep(delay);
      return fail(faultError(fault));
    }
    let params: Params;
    try {
      params = new Params(parseForm(method === 'POST' ? body : url.search.slice(1)));
    } catch (e) {
      return fail(e as StripeHttpError);
    }
    if (key) {
      try {
        if (key.length > 255) throw invalid('Idempotency-Key must be at most 255 characters long.');
        const begun = this.idempotency.begin(key, url.pathname, canonical(params.raw));
        if (begun.kind === 'replay') {
          await sleep(delay);
          record.replayed = true;
          if (fault?.kind === 'drop') return drop(res);
          const { status, body: saved, requestId: original } = begun.answer;
          return reply(status, saved, { 'idempotent-replayed': 'true', 'original-request': original });
        }
      } catch (e) {
        return fail(e as StripeHttpError);
      }
    }
    await sleep(delay);
    const ctx: RequestContext = { requestId, idempotencyKey: key, apiVersion };
    let status = 200;
    let payload: string;
    let extra: Record<string, string> = {};
    let saved = true;
    try {
      payload = JSON.stringify(this.route(method, url.pathname, params, ctx), null, 2);
    } catch (e) {
      const error = e instanceof StripeHttpError ? e : internalError(e);
      ({ status, headers: extra, saved } = error);
      payload = errorBody(error.body);
    }
    if (key && saved) this.idempotency.save(key, { status, body: payload, requestId });
    else if (key) this.idempotency.release(key);
    if (fault?.kind === 'drop') {
      record.status = status;
      return drop(res);
    }
    reply(status, payload, extra);
  }

  private route(method: string, path: string, params: Params, ctx: RequestContext): unknown {
    for (const [m, pattern, handler] of this.routes) {
      const match = pattern.exec(path);
      if (match && m === method) return handler(decodeURIComponent(match[1] ?? ''), params, ctx);
    }
    throw unrecognized(method, path);
  }

  private authorized(value: string | undefined): boolean {
    if (!value) return false;
    let key: string | undefined;
    if (value.startsWith('Bearer ')) key = value.slice(7).trim();
    else if (value.startsWith('Basic ')) key = Buffer.from(value.slice(6), 'base64').toString().split(':')[0];
    if (!key || !/^(sk|rk)_test_\w+$/.test(key)) return false;
    return this.apiKey === undefined || key === this.apiKey;
  }

  private listEvents(p: Params): Stripe.ApiList<Stripe.Event> {
    p.allow(['type', 'types', 'created', 'delivery_success', 'limit', 'starting_after', 'ending_before', 'expand']);
    const type = p.string('type');
    const types = p.list('types');
    const delivered = p.boolean('delivery_success');
    const all = [...this.ledger.events.values()].filter(
      (e) =>
        (!type || e.type === type || (type.endsWith('.*') && e.type.startsWith(type.slice(0, -1)))) &&
        (types.length === 0 || types.includes(e.type)) &&
        (delivered === undefined || delivered === (e.pending_webhooks === 0)),
    );
    return listPage(all, p, '/v1/events', 'event');
  }

  private event(id: string, p: Params): Stripe.Event {
    p.allow(['expand']);
    const event = this.ledger.events.get(id);
    if (!event) throw noSuch('event', id, 'id');
    return event;
  }
}

/** A bug in this server answers as Stripe's own 500 would, and is not saved under the idempotency key. */
function internalError(err: unknown): StripeHttpError {
  console.error('stripe server: unexpected error', err);
  return new StripeHttpError(500, { type: 'api_error', message: 'An unknown error occurred' }, false);
}

function faultError(fault: Fault): StripeHttpError {
  if (fault.kind === 'api_error') {
    return new StripeHttpError(500, { type: 'api_error', message: 'An unknown error occurred' }, false);
  }
  if (fault.kind === 'lock_timeout') {
    const message =
      'This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request.';
    const body: StripeErrorBody = { type: 'invalid_request_error', code: 'lock_timeout', message };
    return new StripeHttpError(429, body, false, { 'stripe-should-retry': 'true' });
  }
  const message = 'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.';
  return new StripeHttpError(429, { type: 'invalid_request_error', code: 'rate_limit', message }, false);
}

const errorBody = (body: StripeErrorBody) => JSON.stringify({ error: body }, null, 2);

function header(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function send(res: http.ServerResponse, status: number, headers: Record<string, string>, body: string): void {
  res.writeHead(status, {
    'cache-control': 'no-cache, no-store',
    ...headers,
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function sendPage(res: http.ServerResponse, page: { status: number; headers: Record<string, string>; body: string }) {
  send(res, page.status, page.headers, page.body);
}

/** The work is done and saved; the client sees the connection close without an answer. */
function drop(res: http.ServerResponse): void {
  res.socket?.destroy();
}

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
