import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../errors.js';
import type { IndexPage, IndexPosition } from '../stores/keyset.js';
import { commonProblems, problem } from './responses.js';

/*
 * Every list of the API (contract §4.1) through one helper: `?limit=1..100` (default 50), an
 * opaque `cursor` that is the keyset position (creation-time score + id) of the last item
 * seen, HMAC-signed so a client can neither forge nor edit one, and `Link: <…>; rel="next"`
 * while more remain. The routes declare `listQuery` and `listResponses`; handlers call `page`.
 */

export const MAX_LIMIT = 100;
export const DEFAULT_LIMIT = 50;

const limitError = { error: `must be a whole number from 1 to ${MAX_LIMIT}` };

export const listQuery = z.object({
  limit: z.coerce
    .number(limitError)
    .int(limitError)
    .min(1, limitError)
    .max(MAX_LIMIT, limitError)
    .default(DEFAULT_LIMIT)
    .openapi({ param: { name: 'limit', in: 'query' }, description: `Items per page, 1–${MAX_LIMIT}.`, example: 20 }),
  cursor: z
    .string()
    .max(512)
    .optional()
    .openapi({
      param: { name: 'cursor', in: 'query' },
      description: 'Opaque: taken from the `Link: rel="next"` URL of the previous page.',
    }),
});
export type ListQuery = z.infer<typeof listQuery>;

const linkHeader = z.object({
  Link: z.string().optional().openapi({
    description: 'RFC 8288 link to the next page, while more remain; absent on the last page.',
    example: '</v1/orders?limit=50&cursor=WzE3…>; rel="next"',
  }),
});

/** The responses of a list route: a JSON array of `item`, newest first, with the Link header. */
export function listResponses<T extends z.ZodType>(item: T, description: string) {
  return {
    200: {
      description: `${description}, newest first.`,
      headers: linkHeader,
      content: { 'application/json': { schema: z.array(item) } },
    },
    400: problem('A bad `limit` or `cursor` (validation_error).'),
    ...commonProblems,
  };
}

/** Cursors signed with one secret shared by every gateway (stores/shared-secret.ts). */
export class Lists {
  constructor(private readonly secret: Buffer) {}

  /**
   * Reads the page `query` asks for from `source` and sets the Link header on `c` when more
   * remain. `scope` names the list and whose it is: a cursor is valid only in its own scope.
   */
  async page<T>(
    c: Context,
    scope: string,
    query: ListQuery,
    source: (after: IndexPosition | undefined, limit: number) => Promise<IndexPage<T>>,
  ): Promise<T[]> {
    const after = query.cursor === undefined ? undefined : this.decode(scope, query.cursor);
    const { items, next } = await source(after, query.limit);
    if (next) {
      const url = new URL(c.req.url);
      url.searchParams.set('limit', String(query.limit));
      url.searchParams.set('cursor', this.encode(scope, next));
      // A path-absolute reference (RFC 8288 allows one): right behind any proxy, whatever Host it saw.
      c.header('link', `<${url.pathname}${url.search}>; rel="next"`);
    }
    return items;
  }

  encode(scope: string, at: IndexPosition): string {
    const payload = Buffer.from(JSON.stringify([at.score, at.id])).toString('base64url');
    return `${payload}.${this.mac(scope, payload).toString('base64url')}`;
  }

  decode(scope: string, cursor: string): IndexPosition {
    const invalid = () =>
      new AppError('validation_error', 'cursor: not a cursor this list handed out; start again without one.');
    const [payload, mac, ...rest] = cursor.split('.');
    if (!payload || !mac || rest.length > 0) throw invalid();
    const given = Buffer.from(mac, 'base64url');
    const expected = this.mac(scope, payload);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
    const at: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString());
    if (!Array.isArray(at) || typeof at[0] !== 'number' || typeof at[1] !== 'string') throw invalid();
    return { score: at[0], id: at[1] };
  }

  /** 128 bits of HMAC-SHA256 over the scope and the payload. */
  private mac(scope: string, payload: string): Buffer {
    return createHmac('sha256', this.secret).update(`${scope}\n${payload}`).digest().subarray(0, 16);
  }
}
