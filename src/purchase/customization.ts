import { Ajv, type ValidateFunction } from 'ajv';
import type { ProductDef } from '../catalog/catalog-file.js';
import type { ErrorCode } from '../errors.js';

const ajv = new Ajv({ allErrors: true, strict: false });
const compiled = new Map<string, ValidateFunction>();

/** Object schemas reject unknown fields unless the catalog says otherwise. */
function closeObjects(schema: Record<string, unknown>): Record<string, unknown> {
  if (schema.type === 'object' && schema.additionalProperties === undefined) {
    return { ...schema, additionalProperties: false };
  }
  return schema;
}

function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile(closeObjects(schema));
    compiled.set(key, validate);
  }
  return validate;
}

export interface CustomizationProblem {
  code: Extract<ErrorCode, 'incomplete_customization' | 'invalid_customization'>;
  detail: string;
}

/** Checks a line's customization against the product's JSON Schema. */
export function checkCustomization(
  product: ProductDef,
  given: Record<string, unknown> | undefined,
): CustomizationProblem | null {
  const value = given ?? {};
  if (!product.customization) {
    return Object.keys(value).length === 0
      ? null
      : { code: 'invalid_customization', detail: `${product.id} takes no customization` };
  }
  const validate = validatorFor(product.customization);
  if (validate(value)) return null;
  const errors = validate.errors ?? [];
  const missing = errors.filter((e) => e.keyword === 'required').map((e) => String(e.params.missingProperty));
  if (missing.length > 0) {
    return { code: 'incomplete_customization', detail: `${product.id}: missing ${missing.join(', ')}` };
  }
  const detail = errors.map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ');
  return { code: 'invalid_customization', detail: `${product.id}: ${detail}` };
}
