import { z } from 'zod';
import { ERRORS } from '../errors.js';
import { purchaseBody } from './schemas.js';

const problemSchema = {
  type: 'object',
  required: ['type', 'title', 'status', 'code'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', enum: Object.keys(ERRORS) },
    purchaseId: { type: 'string' },
  },
};

const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });
const ok = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });
const read = (summary: string, params: string[] = []) => ({
  get: {
    summary,
    parameters: params.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
    responses: { 200: ok(summary), 401: problemResponse('Missing, invalid or expired token'), 404: problemResponse('Unknown id or not yours') },
  },
});

/** The customer API's OpenAPI document; the request schema is the one that validates requests. */
export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: { title: 'Purchase API', version: '1.0.0' },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { PurchaseRequest: z.toJSONSchema(purchaseBody, { io: 'input' }), Problem: problemSchema },
    },
    security: [{ bearer: [] }],
    paths: {
      '/v1/purchases': {
        post: {
          summary: 'Buy products',
          parameters: [
            { name: 'Idempotency-Key', in: 'header', schema: { type: 'string', maxLength: 255 } },
            { name: 'Prefer', in: 'header', schema: { type: 'string', enum: ['respond-async'] } },
          ],
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/PurchaseRequest' } } } },
          responses: {
            201: ok('The purchase completed or partially completed'),
            202: ok('Accepted; poll statusUrl or stream /events'),
            ...Object.fromEntries(
              [...new Set(Object.values(ERRORS).map((e) => e.status))].filter((s) => s >= 400).map((s) => [s, problemResponse(`Error (${s})`)]),
            ),
          },
        },
      },
      '/v1/purchases/{id}': read('A purchase and its steps', ['id']),
      '/v1/purchases/{id}/events': read('Server-Sent Events of the purchase status', ['id']),
      '/v1/orders': read('Your orders'),
      '/v1/orders/{id}': read('One order', ['id']),
      '/v1/provisioned': read('Your provisioned products (Product Store)'),
      '/v1/notifications': read('Your notifications, newest first'),
      '/v1/products': read('The catalog with available stock'),
      '/v1/products/{id}': read('One product', ['id']),
    },
  };
}
