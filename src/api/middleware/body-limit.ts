import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

/**
 * Hono's bodyLimit, with a fast path for a declared Content-Length. Hono's reads
 * `raw.body` first, which turns @hono/node-server's lightweight request into a full
 * web Request with streams, a large share of the gateway's CPU per async accept
 * (docs/performance.md). Here a Content-Length is checked from the header, the body
 * is then read on the server's fast path, and only chunked bodies, whose size nobody
 * declared, go through Hono's.
 */
export function limitBody(options: {
  maxSize: number;
  onError: (c: Context) => Response | Promise<Response>;
}): MiddlewareHandler {
  const streamed = bodyLimit(options);
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const declared = c.req.header('content-length');
    if (declared !== undefined && c.req.header('transfer-encoding') === undefined) {
      return Number(declared) > options.maxSize ? options.onError(c) : next();
    }
    return streamed(c, next);
  };
}
