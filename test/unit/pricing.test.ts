import { describe, expect, it } from 'vitest';
import { amountDue, fulfilledLines } from '../../src/purchase/pricing.js';
import type { Plan, PlannedLine } from '../../src/purchase/record.js';

/** src/purchase/pricing.ts: what a purchase charges, in minor units. */

const line = (productId: string, unitPrice: number, quantity = 1, free = false): PlannedLine => ({
  productId,
  quantity,
  unitPrice,
  customization: {},
  free,
  dependencies: [],
});
const plan = (lines: PlannedLine[], discountPercent = 0): Plan => ({
  lines,
  currency: 'USD',
  discountPercent,
  appliedRules: [],
});

describe('amountDue', () => {
  it('charges unit price times quantity over every line before the stock check', () => {
    expect(amountDue(plan([line('a', 999, 2), line('b', 300)]), undefined)).toBe(2298);
  });

  it('charges only the lines fulfilled now: an out-of-stock line costs nothing', () => {
    const p = plan([line('a', 999, 2), line('b', 300), line('c', 4999)]);
    expect(amountDue(p, ['fulfilled', 'out_of_stock', 'fulfilled'])).toBe(6997);
    expect(amountDue(p, ['out_of_stock', 'out_of_stock', 'out_of_stock'])).toBe(0);
  });

  it("never charges a rule's free line", () => {
    expect(amountDue(plan([line('a', 5000), line('gift', 500, 1, true)]), undefined)).toBe(5000);
  });

  it("takes the rules' discount off the total, rounded half up to a minor unit", () => {
    expect(amountDue(plan([line('a', 999)], 10), undefined)).toBe(899); // 899.1
    expect(amountDue(plan([line('a', 5)], 10), undefined)).toBe(5); // 4.5
    expect(amountDue(plan([line('a', 15)], 10), undefined)).toBe(14); // 13.5 → 14
    expect(amountDue(plan([line('a', 999, 3)], 100), undefined)).toBe(0);
  });
});

describe('fulfilledLines', () => {
  it('keeps each fulfilled line with its index in the plan', () => {
    const p = plan([line('a', 1), line('b', 2), line('c', 3)]);
    expect(fulfilledLines(p, ['out_of_stock', 'fulfilled', 'fulfilled']).map(([l, i]) => [l.productId, i])).toEqual([
      ['b', 1],
      ['c', 2],
    ]);
  });

  it('counts every line before the stock check, and a line the allocation does not mention', () => {
    const p = plan([line('a', 1), line('b', 2)]);
    expect(fulfilledLines(p, undefined).map(([, i]) => i)).toEqual([0, 1]);
    expect(fulfilledLines(p, ['out_of_stock']).map(([, i]) => i)).toEqual([1]);
  });
});
