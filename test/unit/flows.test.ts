import type { FlowJob } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { RetryPolicy } from '../../src/queues/contract.js';
import {
  compensationFlows,
  orderCancelFlows,
  orderCancelJob,
  orderSettleJob,
  purchaseFlow,
  purchaseJobs,
  rootJob,
  startJob,
  undoJobsAlone,
} from '../../src/saga/flows.js';
import { UNDOABLE } from '../../src/saga/saga.js';
import type { CompensationPlan } from '../../src/saga/transitions.js';

/** src/saga/flows.ts: the BullMQ jobs a purchase runs as, built without Redis. */

const ID = 'pur_00c0ffee00000000000000000000aa';
const OTHER = 'pur_01c0ffee00000000000000000000bb';
const policy: RetryPolicy = { attempts: 3, backoffMs: 20 };

/** One node of a flow as a row: where it runs, what it is, who waits for it. */
interface Row {
  queue: string;
  name: string;
  id: string;
  parent?: string;
  ignoreDependencyOnFailure?: boolean;
  attempts?: number;
  data: unknown;
}
function rows(flows: FlowJob | FlowJob[], parent?: string): Row[] {
  return [flows].flat().flatMap((job) => [
    {
      queue: job.queueName,
      name: job.name,
      id: job.opts!.jobId!,
      ...(parent ? { parent } : {}),
      ...(job.opts?.ignoreDependencyOnFailure ? { ignoreDependencyOnFailure: true } : {}),
      attempts: job.opts?.attempts,
      data: job.data,
    },
    ...rows(job.children ?? [], job.opts!.jobId!),
  ]);
}
const ids = (list: Row[]) => list.map((r) => r.id);

/** Every undo, split as compensation splits them: money and stock under settle, the outside ones beside it. */
const plan: CompensationPlan = {
  skip: [],
  money: UNDOABLE.filter((s) => !s.compensate.outside).reverse(),
  outside: UNDOABLE.filter((s) => s.compensate.outside),
};

describe('purchaseFlow: the purchase after its hand-off', () => {
  const flow = rows(purchaseFlow(ID, policy, 7));

  it('is a chain whose root is the last stage and whose deepest leaf is the second', () => {
    expect(flow.map((r) => [r.queue, r.name, r.parent])).toEqual([
      ['orchestrator', 'complete', undefined],
      ['provisioning', 'fulfil', `${ID}-complete`],
      ['payment', 'charge', `${ID}-fulfil`],
    ]);
    expect(flow.every((r) => (r.data as { purchaseId: string }).purchaseId === ID)).toBe(true);
  });

  it('a child failing for good never blocks its parent; the root, which always runs, has more attempts', () => {
    expect(flow.map((r) => [r.name, r.ignoreDependencyOnFailure ?? false, r.attempts])).toEqual([
      ['complete', false, 7],
      ['fulfil', true, 3],
      ['charge', true, 3],
    ]);
  });

  it('derives every id from the purchase: built twice it is the same, another purchase shares none', () => {
    expect(purchaseFlow(ID, policy, 7)).toEqual(purchaseFlow(ID, policy, 7));
    const other = ids(rows(purchaseFlow(OTHER, policy, 7)));
    expect(ids(flow).filter((id) => other.includes(id))).toEqual([]);
    expect(ids(flow).every((id) => id.startsWith(ID) && !id.includes(':'))).toBe(true);
  });

  it('retries each stage with an exponential backoff from the policy', () => {
    const root = purchaseFlow(ID, { attempts: 4, backoffMs: 250 }, 9);
    expect(root.opts).toMatchObject({ attempts: 9, backoff: { type: 'exponential', delay: 250 } });
    expect(root.children![0]!.opts).toMatchObject({ attempts: 4, backoff: { type: 'exponential', delay: 250 } });
  });
});

describe('startJob and rootJob: the jobs added alone', () => {
  it("the gateway's hand-off is the first stage, which the flow does not repeat", () => {
    const start = startJob(ID, policy);
    expect([start.name, start.opts.jobId, start.opts.attempts]).toEqual(['start', `${ID}-prepare`, 3]);
    expect(start.data).toEqual({ purchaseId: ID });
    expect(ids(rows(purchaseFlow(ID, policy, 7)))).not.toContain(start.opts.jobId);
  });

  it("the watchdog's root job has the flow root's queue, name and id, so adding it again adds nothing new", () => {
    const root = rootJob(ID, policy);
    const [flowRoot] = rows(purchaseFlow(ID, policy, 7));
    expect([root.queue, root.name, root.opts.jobId]).toEqual([flowRoot!.queue, flowRoot!.name, flowRoot!.id]);
  });
});

describe('compensationFlows: money first', () => {
  const flows = compensationFlows(ID, plan, policy);
  const all = rows(flows);

  it('settle waits for the money and stock undos only, each on its own step queue', () => {
    expect(flows[0]!.name).toBe('settle');
    expect(all.filter((r) => r.parent === `${ID}-settle`).map((r) => [r.queue, r.name, r.id])).toEqual([
      ['payment', 'restock', `${ID}-undo-inventory_update`],
      ['payment', 'refund', `${ID}-undo-payment`],
      ['orchestrator', 'release', `${ID}-undo-stock_check`],
    ]);
  });

  it("an undo failing for good does not stop settle; the partner's deprovision is a job of its own beside it", () => {
    const children = all.filter((r) => r.parent);
    expect(children.length).toBeGreaterThan(0);
    expect(children.every((r) => r.ignoreDependencyOnFailure)).toBe(true);
    expect(flows.slice(1).map((f) => [f.queueName, f.name, f.opts?.jobId, f.children])).toEqual([
      ['provisioning', 'deprovision', `${ID}-undo-provisioning`, undefined],
    ]);
    expect(flows[1]!.opts?.ignoreDependencyOnFailure).toBeUndefined();
  });

  it('with no money or stock to give back, settle has no children to wait for', () => {
    const [settle, ...beside] = compensationFlows(ID, { ...plan, money: [] }, policy);
    expect(settle!.children).toBeUndefined();
    expect(beside).toHaveLength(plan.outside.length);
  });

  it('an undo alone (the watchdog re-adding a lost one) has the id it has in the flow', () => {
    const alone = rows(undoJobsAlone(ID, UNDOABLE, policy));
    expect(alone.every((r) => !r.parent && !r.ignoreDependencyOnFailure)).toBe(true);
    expect(ids(alone).sort()).toEqual(ids(all.filter((r) => r.name !== 'settle')).sort());
  });
});

describe('orderCancelFlows: the order cancel, in the same shape', () => {
  it('settle-order waits for the refund and the restock; deprovision runs beside it', () => {
    const orderPlan: CompensationPlan = {
      skip: [],
      money: plan.money.filter((s) => s.name !== 'stock_check'),
      outside: plan.outside,
    };
    const flows = orderCancelFlows(ID, orderPlan, policy);
    const all = rows(flows);
    expect(all.map((r) => [r.queue, r.name, r.id, r.parent])).toEqual([
      ['orchestrator', 'settle-order', `${ID}-settle-order`, undefined],
      ['payment', 'restock', `${ID}-undo-inventory_update`, `${ID}-settle-order`],
      ['payment', 'refund', `${ID}-undo-payment`, `${ID}-settle-order`],
      ['provisioning', 'deprovision', `${ID}-undo-provisioning`, undefined],
    ]);
  });

  it("the hand-off and the watchdog's settle-order are single jobs with ids of their own", () => {
    const handOff = orderCancelJob(ID, policy);
    const settle = orderSettleJob(ID, policy);
    expect([handOff.name, handOff.opts.jobId]).toEqual(['cancel-order', `${ID}-cancel-order`]);
    expect([settle.queue, settle.name, settle.opts.jobId]).toEqual([
      'orchestrator',
      'settle-order',
      `${ID}-settle-order`,
    ]);
  });
});

describe("purchaseJobs: the operator's list of a purchase's jobs", () => {
  const listed = purchaseJobs(ID);
  const key = (j: { queue?: string; name: string; id: string }) => `${j.queue}/${j.name}/${j.id}`;

  it('lists every job the builders make, on the same queue, by the same name and id', () => {
    // The two hand-offs carry no queue: the gateway adds them to the orchestrator queue.
    const handOffs = [startJob(ID, policy), orderCancelJob(ID, policy)].map((j) => ({
      queue: 'orchestrator',
      name: j.name,
      id: j.opts.jobId,
    }));
    const alone = [rootJob(ID, policy), orderSettleJob(ID, policy)].map((j) => ({ ...j, id: j.opts.jobId }));
    const built = [
      ...rows(purchaseFlow(ID, policy, 7)),
      ...rows(compensationFlows(ID, plan, policy)),
      ...rows(orderCancelFlows(ID, plan, policy)),
      ...handOffs,
      ...alone,
    ].map(key);
    expect(built.length).toBeGreaterThan(10);
    const keys = listed.map(key);
    expect(built.filter((k) => !keys.includes(k))).toEqual([]);
  });

  it('names each job once', () => {
    expect(new Set(listed.map((j) => j.id)).size).toBe(listed.length);
  });
});
