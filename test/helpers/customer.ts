/** A customer driving the public HTTP API, the way a client would: the typed client of client/. */
import type { Middleware } from 'openapi-fetch';
import { expect, vi } from 'vitest';
import { createApiClient, listAll, type ApiClient, type Page } from '../../client/index.js';
import { apiContract } from './api-contract.js';

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function getToken(
  authUrl: string,
  sub: string,
  opts: { ttlSeconds?: number; roles?: string[] } = {},
): Promise<string> {
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

/** The contract's step order, written out here rather than read from src/saga, so a reordered saga fails the tests. */
export const STEPS_IN_ORDER = [
  'validation',
  'stock_check',
  'payment',
  'inventory_update',
  'provisioning',
  'order_placement',
  'notification',
] as const;

async function bodyOf(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return text;
  }
}

/** Checks every response from the gateway's customer API against its own /openapi.json. */
export function checkedByDocument(gatewayUrl: string): Middleware {
  return {
    async onResponse({ request, response }) {
      const contract = await apiContract(gatewayUrl);
      contract.check(
        request.method,
        request.url,
        response.status,
        response.headers.get('content-type'),
        await bodyOf(response.clone()),
      );
    },
  };
}

const result = <T>({ data, error, response }: { data?: T; error?: unknown; response: Response }): HttpResult => ({
  status: response.status,
  headers: response.headers,
  body: data ?? error,
});

export class Customer {
  /** openapi-fetch, typed by client/api.gen.ts; every answer is checked against the live document. */
  readonly api: ApiClient;

  private constructor(
    readonly gatewayUrl: string,
    readonly id: string,
    readonly token: string,
  ) {
    this.api = createApiClient(gatewayUrl, token, checkedByDocument(gatewayUrl));
  }

  static async login(gatewayUrl: string, authUrl: string, sub: string, roles: string[] = []): Promise<Customer> {
    return new Customer(gatewayUrl, sub, await getToken(authUrl, sub, { roles }));
  }

  /** POST /v1/purchases; `body` may be anything, a raw string included (it is sent as it is). */
  async purchase(body: unknown, opts: PurchaseOptions = {}): Promise<HttpResult> {
    return result(
      await this.api.POST('/v1/purchases', {
        body: body as never,
        ...(typeof body === 'string' ? { bodySerializer: (raw: unknown) => raw as string } : {}),
        headers: {
          ...(opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : {}),
          ...(opts.async ? { prefer: 'respond-async' } : {}),
          ...opts.headers,
        },
      }),
    );
  }

  /** Buys `quantity` of one product with a card that works. */
  buy(
    productId: string,
    quantity = 1,
    customization?: Record<string, unknown>,
    opts: PurchaseOptions = {},
  ): Promise<HttpResult> {
    return this.purchase(
      { items: [{ productId, quantity, ...(customization ? { customization } : {}) }], payment: visa },
      opts,
    );
  }

  /** GET any path (for routes and ids a test makes up), still checked against the document. */
  async get<T = any>(path: string): Promise<HttpResult<T>> {
    const res = await fetch(`${this.gatewayUrl}${path}`, { headers: { authorization: `Bearer ${this.token}` } });
    const body = await bodyOf(res);
    (await apiContract(this.gatewayUrl)).check('GET', res.url, res.status, res.headers.get('content-type'), body);
    return { status: res.status, headers: res.headers, body: body as T };
  }

  async purchaseState(id: string): Promise<any> {
    const res = result(await this.api.GET('/v1/purchases/{id}', { params: { path: { id } } }));
    if (res.status !== 200) throw new Error(`GET purchase ${id}: ${res.status}`);
    return res.body;
  }

  /**
   * Polls the status URL until the purchase is terminal and no step shows an undo still being
   * worked on (an outside system's cleanup goes on after the customer got the answer).
   */
  async waitForSettled(id: string, timeoutMs = 15_000): Promise<any> {
    return vi.waitFor(
      async () => {
        const state = await this.purchaseState(id);
        expect(['completed', 'partially_fulfilled', 'failed', 'canceled']).toContain(state.status);
        expect(state.steps.filter((s: { undo?: { status: string } }) => s.undo && s.undo.status !== 'failed')).toEqual(
          [],
        );
        return state;
      },
      { timeout: timeoutMs, interval: 50 },
    );
  }

  /** Polls the status URL until the purchase is terminal (or the deadline passes). */
  async waitForTerminal(id: string, timeoutMs = 15_000): Promise<any> {
    return vi.waitFor(
      async () => {
        const state = await this.purchaseState(id);
        expect(['completed', 'partially_fulfilled', 'failed', 'canceled'], `purchase ${id}`).toContain(state.status);
        return state;
      },
      { timeout: timeoutMs, interval: 50 },
    );
  }

  /** POST /v1/purchases/:id/cancel. */
  async cancel(id: string): Promise<HttpResult> {
    return result(await this.api.POST('/v1/purchases/{id}/cancel', { params: { path: { id } } }));
  }

  /** POST /v1/orders/:id/cancel. */
  async cancelOrder(id: string): Promise<HttpResult> {
    return result(await this.api.POST('/v1/orders/{id}/cancel', { params: { path: { id } } }));
  }

  /** Every order, newest first, page after page. */
  orders(): Promise<any[]> {
    return listAll(
      (cursor) => this.api.GET('/v1/orders', { params: { query: { limit: 100, cursor } } }) as Promise<Page<any>>,
    );
  }

  provisioned(): Promise<any[]> {
    return listAll(
      (cursor) => this.api.GET('/v1/provisioned', { params: { query: { limit: 100, cursor } } }) as Promise<Page<any>>,
    );
  }

  notifications(): Promise<any[]> {
    return listAll(
      (cursor) =>
        this.api.GET('/v1/notifications', { params: { query: { limit: 100, cursor } } }) as Promise<Page<any>>,
    );
  }

  purchases(): Promise<any[]> {
    return listAll(
      (cursor) => this.api.GET('/v1/purchases', { params: { query: { limit: 100, cursor } } }) as Promise<Page<any>>,
    );
  }

  async product(id: string): Promise<any> {
    return result(await this.api.GET('/v1/products/{id}', { params: { path: { id } } })).body;
  }
}

/** The Product Store units a purchase gave `customer`, as the customer lists them. */
export async function unitsOf(customer: Customer, purchaseId: string): Promise<any[]> {
  return (await customer.provisioned()).filter((unit) => unit.purchaseId === purchaseId);
}
