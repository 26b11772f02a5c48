import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STEP_NAMES } from '../src/saga/saga.js';
import { STEPS_IN_ORDER, visa, type Customer } from './helpers/customer.js';
import { startFakeService } from './helpers/fake-service.js';
import { startTestSystem, testCatalog, type TestSystem } from './helpers/system.js';

// ---------------------------------------------------------------- an SSE client over fetch

interface SseEvent {
  id?: string;
  event: string;
  data: any;
}

interface SseResult {
  status: number;
  contentType: string | null;
  events: SseEvent[];
  /** True when the server ended the body; false when our deadline had to abort the read. */
  closedByServer: boolean;
  /** The body of a non-stream answer (problem+json). */
  body?: any;
}

/** One SSE frame (`field: value` lines) → event; `event` defaults to "message" as in the spec. */
function parseFrame(frame: string): SseEvent | undefined {
  const fields: Record<string, string[]> = {};
  for (const line of frame.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    (fields[name] ??= []).push(value);
  }
  if (!fields.data) return undefined;
  return { id: fields.id?.at(-1), event: fields.event?.at(-1) ?? 'message', data: JSON.parse(fields.data.join('\n')) };
}

/**
 * Opens GET `path` as an event stream and reads it until the server closes it,
 * or until `deadlineMs` passes (then the read is aborted and `closedByServer` is false).
 */
async function readEvents(
  gatewayUrl: string,
  path: string,
  token: string | undefined,
  deadlineMs = 10_000,
): Promise<SseResult> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), deadlineMs);
  const events: SseEvent[] = [];
  try {
    const res = await fetch(`${gatewayUrl}${path}`, {
      headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: abort.signal,
    });
    const contentType = res.headers.get('content-type');
    if (!contentType?.includes('text/event-stream'))
      return { status: res.status, contentType, events, closedByServer: true, body: await res.json() };
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const event = parseFrame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
          if (event) events.push(event);
        }
      }
    } catch (err) {
      if (abort.signal.aborted) return { status: res.status, contentType, events, closedByServer: false };
      throw err;
    }
    return { status: res.status, contentType, events, closedByServer: true };
  } finally {
    clearTimeout(timer);
  }
}

const stepNames = STEP_NAMES;
const stepStatus = (view: any, name: string) => view.steps.find((s: any) => s.name === name)?.status;
const stepsIn = (view: any, status: string) => stepNames.filter((name) => stepStatus(view, name) === status);

/** Steps in the order they first reached `status` over the stream. */
function firstReached(events: SseEvent[], status: string): string[] {
  const seen: string[] = [];
  for (const e of events) for (const name of stepsIn(e.data, status)) if (!seen.includes(name)) seen.push(name);
  return seen;
}

function expectSequentialIds(events: SseEvent[]) {
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i)));
}

/** `step:status` pairs that appear after the first event: the step changes made while the stream was open. */
function changesAfterFirst(events: SseEvent[]): string[] {
  const seen = new Set(events[0]!.data.steps.map((s: any) => `${s.name}:${s.status}`));
  const changes: string[] = [];
  for (const e of events.slice(1)) {
    for (const s of e.data.steps) {
      const pair = `${s.name}:${s.status}`;
      if (seen.has(pair)) continue;
      changes.push(pair);
      seen.add(pair);
    }
  }
  return changes;
}

/**
 * Once a terminal event was sent the status and the money never move again; only an outside
 * system's cleanup may still show progress, and the stream ends once nothing is left running.
 */
function expectNothingAfterTerminal(events: SseEvent[], status: string) {
  const end = events.findIndex((e) => e.data.status === status);
  expect(end, `no ${status} event`).toBeGreaterThanOrEqual(0);
  for (const e of events.slice(end))
    expect({ status: e.data.status, payment: e.data.payment }).toEqual({ status, payment: events[end]!.data.payment });
  const forwardSteps = (e: SseEvent) =>
    e.data.steps.filter((s: any) => s.status !== 'compensated' && !s.undo).map((s: any) => `${s.name}:${s.status}`);
  for (const e of events.slice(end))
    expect(forwardSteps(e)).toEqual(expect.arrayContaining(forwardSteps(events.at(-1)!)));
  expect(events.at(-1)!.data.steps.filter((s: any) => s.undo && s.undo.status !== 'failed')).toEqual([]);
}

// ---------------------------------------------------------------- tests

describe('purchase progress over Server-Sent Events', () => {
  let sys: TestSystem;
  let integration: Awaited<ReturnType<typeof startFakeService>>;

  beforeAll(async () => {
    // Provisioning `analytics` waits on this service: the stream is open long before the saga ends.
    integration = await startFakeService({ slowMs: 400 });
    sys = await startTestSystem({ catalog: testCatalog(integration.url) });
  });

  afterAll(async () => {
    await sys?.stop();
    await integration?.stop();
  });

  /** An async purchase of one `analytics`; returns its id once the gateway answered 202. */
  async function startAnalytics(customer: Customer): Promise<string> {
    const res = await customer.purchase(
      { items: [{ productId: 'analytics', quantity: 1 }], payment: visa },
      { async: true },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return res.body.id;
  }

  it('streams the current state, then every step in saga order, and closes after the terminal state', async () => {
    const customer = await sys.customer();
    const id = await startAnalytics(customer);
    const started = Date.now();
    const stream = await readEvents(sys.gatewayUrl, `/v1/purchases/${id}/events`, customer.token);

    expect(stream.status).toBe(200);
    expect(stream.contentType).toContain('text/event-stream');
    // The server ended the stream by itself, well before our deadline.
    expect(stream.closedByServer, `stream still open after ${Date.now() - started} ms`).toBe(true);
    expectSequentialIds(stream.events);

    const [first, ...rest] = stream.events;
    // First event: the purchase as it stands (provisioning still waits on the slow service).
    expect(first).toMatchObject({ event: 'status', data: { id } });
    expect(['accepted', 'processing']).toContain(first!.data.status);
    expect(stepStatus(first!.data, 'provisioning')).not.toBe('completed');

    // Every event shows a saga prefix completed: no step completes before the one ahead of it.
    for (const e of stream.events) {
      const done = stepsIn(e.data, 'completed');
      expect(done, `event ${e.id}`).toEqual(stepNames.slice(0, done.length));
    }
    // Steps reach `completed` in saga order, and all of them do.
    expect(firstReached(stream.events, 'completed')).toEqual([...STEPS_IN_ORDER]);
    // Each step that completed while the stream was open came with a `step` event of its own
    // (an event's data is the purchase as read when it is sent, so it may already show later changes).
    const changes = changesAfterFirst(stream.events);
    expect(changes).toEqual(
      expect.arrayContaining(['provisioning:completed', 'order_placement:completed', 'notification:completed']),
    );
    expect(changes.every((c) => c.endsWith(':completed'))).toBe(true);
    expect(rest.filter((e) => e.event === 'step').length).toBeGreaterThanOrEqual(changes.length);

    // The final event: the purchase completed; once it was sent, nothing moved on.
    const last = stream.events.at(-1)!;
    expect(last.data).toMatchObject({ id, status: 'completed', payment: { status: 'captured' } });
    expect(last.data.orderId).toEqual(expect.any(String));
    expectNothingAfterTerminal(stream.events, 'completed');
    // It agrees with what the status URL says afterwards.
    expect(await customer.purchaseState(id)).toMatchObject({ status: 'completed', steps: last.data.steps });
  });

  it('sends one event for a purchase that already finished, then closes', async () => {
    const customer = await sys.customer();
    const bought = await customer.buy('basic-plan');
    expect(bought.status, JSON.stringify(bought.body)).toBe(201);

    const stream = await readEvents(sys.gatewayUrl, `/v1/purchases/${bought.body.id}/events`, customer.token);

    expect(stream.status).toBe(200);
    expect(stream.closedByServer).toBe(true);
    expect(stream.events).toHaveLength(1);
    expect(stream.events[0]).toMatchObject({
      id: '0',
      event: 'status',
      data: { id: bought.body.id, status: 'completed', orderId: bought.body.orderId },
    });
    expect(stream.events[0]!.data.steps).toEqual(bought.body.steps);
  });

  it('streams a failed purchase through its compensated steps to a final failed event', async () => {
    const customer = await sys.customer();
    // Placing the order fails on every attempt (3 per step): the saga rolls back.
    expect((await sys.admin('POST', '/admin/faults', { point: 'order.place', times: 10 })).status).toBe(201);
    try {
      const id = await startAnalytics(customer);
      const stream = await readEvents(sys.gatewayUrl, `/v1/purchases/${id}/events`, customer.token);

      expect(stream.status).toBe(200);
      expect(stream.closedByServer).toBe(true);
      expectSequentialIds(stream.events);
      expect(stream.events[0]).toMatchObject({ event: 'status', data: { id } });
      expect(stream.events[0]!.data.status).not.toBe('failed');

      // The failing step shows up as failed before anything is compensated.
      const failedAt = stream.events.findIndex((e) => stepStatus(e.data, 'order_placement') === 'failed');
      const firstUndo = stream.events.findIndex((e) => stepsIn(e.data, 'compensated').length > 0);
      expect(failedAt).toBeGreaterThanOrEqual(0);
      expect(firstUndo).toBeGreaterThanOrEqual(failedAt);
      // Every step with an undo is compensated (side by side: money first, the partner's cleanup beside it);
      // the step after the failure is skipped.
      expect(firstReached(stream.events, 'compensated').sort()).toEqual([
        'inventory_update',
        'payment',
        'provisioning',
        'stock_check',
      ]);
      const changes = changesAfterFirst(stream.events);
      expect(changes).toEqual(
        expect.arrayContaining([
          'order_placement:failed',
          'notification:skipped',
          'provisioning:compensated',
          'inventory_update:compensated',
          'payment:compensated',
          'stock_check:compensated',
        ]),
      );
      // Each of those changes came with a `step` event of its own.
      expect(stream.events.slice(1).filter((e) => e.event === 'step').length).toBeGreaterThanOrEqual(changes.length);

      // The final event: failed with purchase_failed, the hold voided (never captured), no order; nothing after it.
      const last = stream.events.at(-1)!;
      expect(last.data).toMatchObject({
        id,
        status: 'failed',
        error: { code: 'purchase_failed' },
        payment: { status: 'voided' },
      });
      expect(last.data.orderId).toBeUndefined();
      expectNothingAfterTerminal(stream.events, 'failed');
    } finally {
      expect((await sys.admin('DELETE', '/admin/faults')).status).toBe(204);
    }
  });

  it("answers 404 for another customer's purchase stream", async () => {
    const owner = await sys.customer();
    const other = await sys.customer();
    const bought = await owner.buy('basic-plan');
    expect(bought.status).toBe(201);

    const stream = await readEvents(sys.gatewayUrl, `/v1/purchases/${bought.body.id}/events`, other.token);

    expect(stream.status).toBe(404);
    expect(stream.contentType).toContain('application/problem+json');
    expect(stream.body).toMatchObject({ status: 404, code: 'not_found' });
    expect(stream.events).toEqual([]);
  });

  it('answers 401 for a stream without a token', async () => {
    const owner = await sys.customer();
    const bought = await owner.buy('basic-plan');
    expect(bought.status).toBe(201);

    const stream = await readEvents(sys.gatewayUrl, `/v1/purchases/${bought.body.id}/events`, undefined);

    expect(stream.status).toBe(401);
    expect(stream.contentType).toContain('application/problem+json');
    expect(stream.body).toMatchObject({ status: 401, code: 'missing_token' });
  });
});
