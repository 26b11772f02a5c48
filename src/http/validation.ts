import { OpenAPIHono, type z } from '@hono/zod-openapi';
import type { Env } from 'hono';
import { AppError } from '../errors.js';

/** Renders zod issues as one readable line for a validation_error detail. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

/**
 * The one request-validation path: @hono/zod-openapi validates params, query, headers and
 * JSON bodies against the route's schemas and calls this on the outcome. A failure is the
 * contract's validation_error. (Malformed JSON and a body that is not JSON never reach it:
 * Hono's validator throws a 400/415 HTTPException, which problemOnError renders the same way.)
 */
export function rejectInvalid(result: { success: true } | { success: false; error: z.ZodError }): void {
  if (!result.success) throw new AppError('validation_error', describeIssues(result.error));
}

/** An OpenAPIHono whose routes validate with `rejectInvalid`. */
export function apiApp<E extends Env = Env>(): OpenAPIHono<E> {
  return new OpenAPIHono<E>({ defaultHook: rejectInvalid });
}
