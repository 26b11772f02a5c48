import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

/**
 * The gateway's own /openapi.json as a response checker: every response a test's client
 * receives on a documented route is validated against the schema the document gives for
 * its status and media type (OpenAPI 3.1 schemas are JSON Schema 2020-12, so ajv compiles
 * them as they are). The document leaves its objects open for clients' sake; here they are
 * closed, so a field the gateway sends and the document does not name fails the test.
 */
export interface ApiContract {
  document: any;
  /** Throws, naming the route and what did not match, when `body` breaks the document. */
  check(method: string, url: string, status: number, contentType: string | null, body: unknown): void;
}

const contracts = new Map<string, Promise<ApiContract>>();

/** The contract of the gateway at `gatewayUrl`, fetched once per gateway. */
export function apiContract(gatewayUrl: string): Promise<ApiContract> {
  let contract = contracts.get(gatewayUrl);
  if (!contract) {
    contract = fetch(`${gatewayUrl}/openapi.json`).then(async (res) => {
      if (res.status !== 200) throw new Error(`GET /openapi.json: ${res.status}`);
      return compileContract(await res.json());
    });
    contracts.set(gatewayUrl, contract);
  }
  return contract;
}

/** Object schemas with named properties get additionalProperties: false unless they say otherwise. */
function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node))
    out[k] =
      k === 'properties'
        ? Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, closeObjects(s)]))
        : closeObjects(v);
  if (out.type === 'object' && out.properties && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

export function compileContract(document: any): ApiContract {
  const ajv = new Ajv2020({ allErrors: true, strict: false });
  addFormats.default(ajv);
  ajv.addSchema({ $id: 'api', components: closeObjects(document.components) });
  const compiled = new Map<string, ValidateFunction>();
  // Templates such as /v1/purchases/{id} as patterns; literal paths first, so /v1/purchases never matches a template.
  const routes = Object.keys(document.paths)
    .sort((a, b) => Number(a.includes('{')) - Number(b.includes('{')))
    .map((template) => ({ template, pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`) }));

  const validatorFor = (key: string, schema: unknown) => {
    let validate = compiled.get(key);
    if (!validate) {
      // $refs point into the document's components, registered above as `api`.
      validate = ajv.compile(
        JSON.parse(JSON.stringify(closeObjects(schema)).replaceAll('"#/components/', '"api#/components/')),
      );
      compiled.set(key, validate);
    }
    return validate;
  };

  return {
    document,
    check(method, url, status, contentType, body) {
      const { pathname } = new URL(url, 'http://gateway');
      const route = routes.find((r) => r.pattern.test(pathname));
      const operation = route && document.paths[route.template][method.toLowerCase()];
      if (!operation) return; // not the customer API (health, metrics, admin, docs)
      const where = `${method.toUpperCase()} ${route.template} → ${status}`;
      const response = operation.responses[String(status)] ?? operation.responses.default;
      if (!response) throw new Error(`${where}: the document declares no such response`);
      if (body === undefined && !response.content) return;
      const mediaType = (contentType ?? '').split(';')[0]!.trim();
      const content = response.content?.[mediaType];
      if (!content)
        throw new Error(
          `${where}: the document declares no ${mediaType || 'body'} for it (it has ${Object.keys(response.content ?? {}).join(', ') || 'none'})`,
        );
      if (!/json$/.test(mediaType)) return; // an event stream: its events are checked by whoever reads them
      const validate = validatorFor(`${where} ${mediaType}`, content.schema);
      if (!validate(body)) {
        const errors = (validate.errors ?? []).map(
          (e) =>
            `${e.instancePath || '/'} ${e.message}${e.params && 'additionalProperty' in e.params ? ` (${e.params.additionalProperty})` : ''}`,
        );
        throw new Error(
          `${where}: the body does not match the document: ${errors.join('; ')}\n${JSON.stringify(body).slice(0, 2000)}`,
        );
      }
    },
  };
}
