import type Stripe from 'stripe';
import { invalid } from './errors.js';
import type { Params } from './form.js';

/**
 * Stripe's search query language for PaymentIntents (https://docs.stripe.com/search#search-query-language), the part a
 * reconciliation needs: `metadata['k']:'v'`, `status:'succeeded'`, `currency:'usd'`, `customer:'cus_…'`,
 * `amount>1000`, `created>=1700000000`, `-` to negate, clauses joined by `AND` or by `OR` (not both).
 */
interface Clause {
  negate: boolean;
  field: string;
  key: string | null;
  op: ':' | '>' | '<' | '>=' | '<=';
  value: string;
}

const CLAUSE =
  /^\s*(-)?\s*(metadata\[\s*(?:'([^']*)'|"([^"]*)")\s*\]|[a-z_]+)\s*(>=|<=|:|>|<)\s*(?:'([^']*)'|"([^"]*)"|(-?\d+)|(null))\s*/;
const FIELDS = new Set(['amount', 'created', 'currency', 'customer', 'metadata', 'status']);
const NUMERIC = new Set(['amount', 'created']);

function parse(query: string): { clauses: Clause[]; joiner: 'AND' | 'OR' } {
  const clauses: Clause[] = [];
  const joiners = new Set<'AND' | 'OR'>();
  let rest = query;
  for (;;) {
    const m = CLAUSE.exec(rest);
    if (!m) throw unparsable(query);
    const field = m[2]!.startsWith('metadata') ? 'metadata' : m[2]!;
    if (!FIELDS.has(field)) {
      throw invalid(
        `Field '${field}' is an unsupported search field for resource payment_intents. See http://stripe.com/docs/search#query-fields-for-payment-intents for a list of supported fields.`,
        { param: 'query' },
      );
    }
    const op = m[5] as Clause['op'];
    if (op !== ':' && !NUMERIC.has(field)) throw unparsable(query);
    const value = m[6] ?? m[7] ?? m[8] ?? m[9]!;
    clauses.push({ negate: m[1] === '-', field, key: m[3] ?? m[4] ?? null, op, value });
    rest = rest.slice(m[0].length);
    if (rest.trim() === '') break;
    const j = /^(AND|OR)\s+/.exec(rest);
    if (!j) throw unparsable(query);
    joiners.add(j[1] as 'AND' | 'OR');
    rest = rest.slice(j[0].length);
  }
  if (joiners.size > 1) throw invalid('Mixing AND and OR in one query is not supported.', { param: 'query' });
  return { clauses, joiner: joiners.has('OR') ? 'OR' : 'AND' };
}

function unparsable(query: string) {
  return invalid(
    `We were unable to parse the query: ${query}. See https://stripe.com/docs/search#search-query-language for the query language.`,
    { param: 'query' },
  );
}

function test(pi: Stripe.PaymentIntent, c: Clause): boolean {
  let hit: boolean;
  if (c.field === 'metadata') {
    const v = pi.metadata[c.key ?? ''];
    hit = c.value === 'null' ? v === undefined : v === c.value;
  } else if (NUMERIC.has(c.field)) {
    const have = c.field === 'amount' ? pi.amount : pi.created;
    const want = Number(c.value);
    hit =
      c.op === ':'
        ? have === want
        : c.op === '>'
          ? have > want
          : c.op === '<'
            ? have < want
            : c.op === '>='
              ? have >= want
              : have <= want;
  } else {
    const have = c.field === 'customer' ? pi.customer : (pi as unknown as Record<string, unknown>)[c.field];
    hit = typeof have === 'string' && have.toLowerCase() === c.value.toLowerCase();
  }
  return c.negate ? !hit : hit;
}

/** `GET /v1/payment_intents/search`: newest first, `limit` (1–100), `page` cursor as `next_page`. */
export function searchIntents(
  all: Stripe.PaymentIntent[],
  params: Params,
): Stripe.ApiSearchResult<Stripe.PaymentIntent> {
  const { clauses, joiner } = parse(params.required('query'));
  const limit = params.integer('limit') ?? 10;
  if (limit < 1 || limit > 100) {
    throw invalid('This value must be greater than or equal to 1 and less than or equal to 100.', { param: 'limit' });
  }
  const page = params.string('page');
  let offset = 0;
  if (page !== undefined) {
    const decoded = /^page_(\d+)$/.exec(Buffer.from(page, 'base64url').toString());
    if (!decoded) throw invalid('Invalid page cursor.', { param: 'page' });
    offset = Number(decoded[1]);
  }
  const found = [...all]
    .reverse()
    .filter((pi) => (joiner === 'AND' ? clauses.every((c) => test(pi, c)) : clauses.some((c) => test(pi, c))));
  const data = found.slice(offset, offset + limit);
  const hasMore = found.length > offset + limit;
  return {
    object: 'search_result',
    data,
    has_more: hasMore,
    next_page: hasMore ? Buffer.from(`page_${offset + limit}`).toString('base64url') : null,
    url: '/v1/payment_intents/search',
    ...(params.list('expand').includes('total_count') ? { total_count: found.length } : {}),
  };
}
