import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { OpenAPIHono } from '@hono/zod-openapi';
import { SwaggerUI, swaggerUI } from '@hono/swagger-ui';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Env } from 'hono';
import { secureHeaders } from 'hono/secure-headers';

/** The document's top level; @hono/zod-openapi generates the paths and schemas from the routes. */
export const DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'Purchase API',
    version: '1.1.0',
    description:
      'The customer API of the purchase system. Every error is an RFC 9457 problem with a stable `code`. ' +
      'Lists are newest first and paged: `?limit=1..100` (default 50), and `Link: <…>; rel="next"` while more remain.',
  },
  security: [{ bearer: [] }],
};

const ASSETS = '/docs/assets';
const UI_FILES = ['swagger-ui.css', 'swagger-ui-bundle.js'];
// swagger-ui-dist's own files, served from node_modules: the machine may have no internet, and
// @hono/swagger-ui would otherwise point the page at a CDN.
const uiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const uiOptions = {
  url: '/openapi.json',
  baseUrl: ASSETS,
  title: 'Purchase API',
  validatorUrl: 'none',
  docExpansion: 'list',
} as const;

/** The page's one inline script (it starts Swagger UI), allowed by its hash and nothing else. */
function inlineScriptHash(): string {
  const script = /<script>([\s\S]*?)<\/script>/.exec(SwaggerUI(uiOptions))?.[1];
  if (script === undefined)
    throw new Error('@hono/swagger-ui no longer renders an inline script: revisit the /docs CSP');
  return `'sha256-${createHash('sha256').update(script).digest('base64')}'`;
}

/**
 * GET /openapi.json, generated from the route definitions, and GET /docs, Swagger UI rendered
 * from it with its assets served locally. The page gets a CSP that allows only this origin
 * (and its own inline start-up script), so it can never load code from anywhere else.
 */
export function docsRoutes<E extends Env>(app: OpenAPIHono<E>): void {
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A token of the Authentication Server (`POST /token`).',
  });
  app.doc31('/openapi.json', DOCUMENT);

  const csp = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'", inlineScriptHash()],
      // Swagger UI sets style attributes as it renders.
      styleSrc: ["'self'", "'unsafe-inline'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      objectSrc: ["'none'"],
      frameAncestors: ["'self'"],
    },
  });
  app.get('/docs', csp, swaggerUI(uiOptions));
  const assets = serveStatic({ root: uiDir, rewriteRequestPath: (p) => path.basename(p) });
  app.get(`${ASSETS}/swagger-ui-dist/:file`, async (c, next) => {
    if (!UI_FILES.includes(c.req.param('file'))) return next();
    c.header('cache-control', 'public, max-age=86400');
    return assets(c, next);
  });
}
