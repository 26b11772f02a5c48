import { expect, vi } from 'vitest';
/** A customer driving the public HTTP API, the way a client would. */

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function getToken(authUrl: string, sub: string, opts: { ttlSeconds?: number; roles?: string[] } = {}): Promise<string> {
  const res = await fetch(`${authUrl}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ sub, ttlSeconds: opts.ttlSeconds ?? 3600, roles: opts.roles ?? [] }),
  });
  if (res.status !== 200) throw new Error(`token request failed: ${res.status}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export async function http<T = any>(url: string, init: RequestInit = {}): Promise<HttpResult<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, headers: res.headers, body: body as T };
}

export interface PurchaseOptions {
  idempotencyKey?: string;
  async?: boolean;
  headers?: Record<string, string>;
}

export const visa = { token: 'tok_visa' };

export class Customer {
  private constructor(
    readonly gatewayUrl: string,
    readonly id: string,
    readonly token: string,
  ) {}

  static async login(gatewayUrl: string, authUrl: string, sub: string, roles: string[] = []): Promise<Customer> {
    return new Customer(gatewayUrl, sub, await getToken(authUrl, sub, { roles }));
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, ...extra };
  }

  purchase(body: unknown, opts: PurchaseOptions = {}): Promise<HttpResult> {
    return http(`${this.gatewayUrl}/v1/purchases`, {
      method: 'POST',
      headers: this.headers({
        'content-type': 'application/json',
        ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
        ...(opts.async ? { prefer: 'respond-async' } : {}),
        ...opts.headers,
      }),
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /** Buys `quantity` of one product with a card that works. */
  buy(productId: string, quantity = 1, customization?: Record<string, unknown>, opts: PurchaseOptions = {}): Promise<HttpResult> {
    return this.purchase({ items: [{ productId, quantity, ...(customization ? { customization } : {}) }], payment: visa }, opts);
  }

  get<T = any>(path: string): Promise<HttpResult<T>> {
    return http<T>(`${this.gatewayUrl}${path}`, { headers: this.headers() });
  }

  async purchaseState(id: string): Promise<any> {
    const res = await this.get(`/v1/purchases/${id}`);
    if (res.status !== 200) throw new Error(`GET purchase ${id}: ${res.status}`);
    return res.body;
  }

  /**
   * Polls the status URL until the purchase is terminal and no step shows an undo still being
   * worked on (an outside system's cleanup goes on after the customer got the answer).
   */
  async waitForSettled(id: string, timeoutMs = 15_000): Promise<any> {
    let state: any;
    await vi.waitFor(
      async () => {
        state = await this.waitForTerminal(id, timeoutMs);
        expect(state.steps.filter((s: { undo?: { status: string } }) => s.undo && s.undo.status !== 'failed')).toEqual([]);
      },
      { timeout: timeoutMs, interval: 50 },
    );
    return state;
  }

  /** Polls the status URL until the purchase is terminal (or the deadline passes). */
  async waitForTerminal(id: string, timeoutMs = 15_000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.purchaseState(id);
      if (['completed', 'partially_fulfilled', 'failed'].includes(state.status)) return state;
      if (Date.now() > deadline) throw new Error(`purchase ${id} still ${state.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async orders(): Promise<any[]> {
    return (await this.get('/v1/orders')).body;
  }

  async provisioned(): Promise<any[]> {
    return (await this.get('/v1/provisioned')).body;
  }

  async notifications(): Promise<any[]> {
    return (await this.get('/v1/notifications')).body;
  }

  async product(id: string): Promise<any> {
    return (await this.get(`/v1/products/${id}`)).body;
  }
}

/** Waits until `check` returns a truthy value, polling; fails with `what` after the deadline. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
