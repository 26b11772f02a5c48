import type { LineOutcome, Plan, PlannedLine } from './record.js';

/** Lines fulfilled now, with their plan index. Before the stock check every line counts. */
export function fulfilledLines(plan: Plan, allocation: LineOutcome[] | undefined): [PlannedLine, number][] {
  return plan.lines
    .map((line, i) => [line, i] as [PlannedLine, number])
    .filter(([, i]) => (allocation?.[i] ?? 'fulfilled') === 'fulfilled');
}

/** Minor units to charge: fulfilled, non-free lines, less the rules' discount (rounded half up). */
export function amountDue(plan: Plan, allocation: LineOutcome[] | undefined): number {
  const subtotal = fulfilledLines(plan, allocation)
    .filter(([line]) => !line.free)
    .reduce((sum, [line]) => sum + line.unitPrice * line.quantity, 0);
  return Math.round((subtotal * (100 - plan.discountPercent)) / 100);
}
