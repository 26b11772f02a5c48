import { expect, vi } from 'vitest';
import { visa, type Customer } from './customer.js';
import type { startFakeService } from './fake-service.js';

type Partner = Awaited<ReturnType<typeof startFakeService>>;

/**
 * A purchase flagged for review, the way one gets there: its partner is down, so it fails with
 * the money refunded and its deprovision fails for good. The partner is up again afterwards.
 */
export async function flaggedPurchase(customer: Customer, partner: Partner): Promise<string> {
  partner.set('fail');
  try {
    const res = await customer.purchase({ items: [{ productId: 'analytics', quantity: 1 }], payment: visa });
    expect(res.status).toBe(502);
    const id = res.body.purchaseId as string;
    await vi.waitFor(async () => expect((await customer.purchaseState(id)).review?.status).toBe('manual_review'), {
      timeout: 15_000,
      interval: 100,
    });
    return id;
  } finally {
    partner.set('ok');
  }
}
