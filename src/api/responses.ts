import { z } from '@hono/zod-openapi';
import { problemSchema } from './response-schemas.js';

/** A problem+json response (contract §3) with what it means on this route. */
export const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: problemSchema } },
});

/** A JSON response of `schema`. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const retryAfter = z.object({
  'Retry-After': z.string().openapi({ description: 'Seconds to wait before trying again.', example: '5' }),
});

/** What any customer route can answer besides its own outcomes. */
export const commonProblems = {
  401: problem('No bearer token, or one that is invalid or expired (missing_token, invalid_token, expired_token).'),
  429: { ...problem('Too many requests from this customer (rate_limit_exceeded).'), headers: retryAfter },
  503: {
    ...problem(
      'The authentication server, Redis or the workers are unavailable, or the breaker is open (service_unavailable).',
    ),
    headers: retryAfter,
  },
  default: problem('Any other error, e.g. internal_error; never a stack trace.'),
};
