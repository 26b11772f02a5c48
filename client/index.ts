/**
 * The Purchase API's typed client: openapi-fetch over the types `npm run api:types` generates
 * from the gateway's /openapi.json. Used by `npm run demo` and the tests' customer.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './api.gen.js';

export type { components, paths } from './api.gen.js';
export type ApiClient = Client<paths>;
export type Schemas = components['schemas'];

/** A client of the gateway at `baseUrl` that sends `token` as its bearer token. */
export function createApiClient(baseUrl: string, token?: string, ...middleware: Middleware[]): ApiClient {
  const client = createClient<paths>({ baseUrl });
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set('authorization', `Bearer ${token}`);
        return request;
      },
    });
  }
  client.use(...middleware);
  return client;
}

/** The `cursor` of a response's `Link: <…>; rel="next"` (RFC 8288), if more remain. */
export function nextCursor(headers: Headers): string | undefined {
  for (const link of (headers.get('link') ?? '').split(',')) {
    const match = /^<([^>]*)>(.*)$/.exec(link.trim());
    const rel = match && /;\s*rel=(?:"([^"]*)"|([^;\s]+))/i.exec(match[2]!);
    // rel may list several relation types, space-separated.
    if (rel && (rel[1] ?? rel[2])!.toLowerCase().split(/\s+/).includes('next'))
      return new URL(match[1]!, 'http://base').searchParams.get('cursor') ?? undefined;
  }
  return undefined;
}

/** A page of a list, as openapi-fetch answers it. */
export interface Page<T> {
  data?: T[];
  error?: unknown;
  response: Response;
}

/** Every item of a list, following `Link: rel="next"` page after page. */
export async function listAll<T>(
  page: (cursor: string | undefined) => Promise<Page<T>>,
  maxPages = 1_000,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const { data, error, response } = await page(cursor);
    if (!data) throw new Error(`list page answered ${response.status}: ${JSON.stringify(error)}`);
    items.push(...data);
    cursor = nextCursor(response.headers);
    if (!cursor) return items;
  }
  throw new Error(`list still going after ${maxPages} pages`);
}
