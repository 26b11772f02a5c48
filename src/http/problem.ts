import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { AppError, ERRORS, type ErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { isRedisUnavailable } from '../redis.js';

/** Renders an RFC 9457 problem document with the contract's stable `code`. */
export function problem(c: Context, error: AppError): Response {
  for (const [name, value] of Object.entries(error.headers)) c.header(name, value);
  const body = {
    type: `https://purchase.example/problems/${error.code.replaceAll('_', '-')}`,
    title: ERRORS[error.code].title,
    status: error.status,
    detail: error.detail,
    code: error.code,
    ...error.extra,
  };
  return c.body(JSON.stringify(body), error.status as ContentfulStatusCode, {
    'content-type': 'application/problem+json',
  });
}

const HTTP_CODES: Partial<Record<number, ErrorCode>> = {
  400: 'validation_error',
  401: 'invalid_token',
  404: 'not_found',
  413: 'payload_too_large',
  429: 'rate_limit_exceeded',
  503: 'service_unavailable',
};
/** Details clearer than the exception's own message ("Unsupported Media Type" from @hono/zod-openapi). */
const HTTP_DETAILS: Partial<Record<number, string>> = {
  415: 'The body must be JSON, sent as Content-Type: application/json.',
};

/** One error handler for the whole app: known errors keep their code; anything else is a bare 500. */
export function problemOnError(log?: Logger): ErrorHandler {
  return (err, c) => {
    if (err instanceof AppError) return problem(c, err);
    if (err instanceof HTTPException) {
      const code = HTTP_CODES[err.status] ?? (err.status >= 500 ? 'internal_error' : 'validation_error');
      // Keep basicAuth's challenge: without WWW-Authenticate a browser never offers the admin login.
      const challenge = err.res?.headers.get('www-authenticate');
      return problem(
        c,
        new AppError(
          code,
          HTTP_DETAILS[err.status] ?? (err.message || ERRORS[code].title),
          {},
          challenge ? { 'www-authenticate': challenge } : {},
        ),
      );
    }
    if (isRedisUnavailable(err)) {
      log?.warn({ path: c.req.path, method: c.req.method, err: err.message }, 'redis unavailable');
      return problem(
        c,
        new AppError(
          'service_unavailable',
          'The service is temporarily unavailable; try again shortly.',
          {},
          { 'retry-after': '5' },
        ),
      );
    }
    log?.error({ err, path: c.req.path, method: c.req.method }, 'unhandled error');
    return problem(c, new AppError('internal_error', 'An unexpected error occurred.'));
  };
}
