import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { notificationId, retryJobId } from '../../src/ids.js';
import type { Notification } from '../../src/purchase/documents.js';
import {
  CANCEL_ORDER_JOB,
  QUEUES,
  RETRY_JOB,
  SETTLE_JOB,
  SETTLE_ORDER_JOB,
  SWEEP_JOB,
} from '../../src/queues/contract.js';
import { deliverByWebhook } from '../../src/queues/webhook-delivery.js';
import type { SagaContext } from '../../src/saga/context.js';
import { purchaseJobs, redoJobs } from '../../src/saga/flows.js';
import { sagaHandlers } from '../../src/saga/handlers.js';
import { REPAIRABLE, STEP_NAMES, UNDOABLE } from '../../src/saga/saga.js';
import { STEPS_IN_ORDER } from '../helpers/customer.js';

/*
 * The jobs a running deployment has in Redis at an upgrade: the new workers must find each one by
 * its queue and job name, and the gateway, the watchdog and an operator by its id. The table below
 * is written out by hand on purpose: renaming a queue, a job or an id pattern in the code fails
 * this test, and changing the table is then a decision (a migration of the jobs in flight).
 */

const ID = 'pur_07c0ffee00000000000000000000aa';
const AT = 1_767_225_600_000;

/** [what, queue, job name, job id] */
const CONTRACT: [string, string, string, string][] = [
  ['stage prepare', 'orchestrator', 'start', `${ID}-prepare`],
  ['stage charge', 'payment', 'charge', `${ID}-charge`],
  ['stage fulfil', 'provisioning', 'fulfil', `${ID}-fulfil`],
  ['stage complete', 'orchestrator', 'complete', `${ID}-complete`],
  ['undo stock_check', 'orchestrator', 'release', `${ID}-undo-stock_check`],
  ['undo payment', 'payment', 'refund', `${ID}-undo-payment`],
  ['undo inventory_update', 'payment', 'restock', `${ID}-undo-inventory_update`],
  ['undo provisioning', 'provisioning', 'deprovision', `${ID}-undo-provisioning`],
  ['settle', 'orchestrator', 'settle', `${ID}-settle`],
  ['cancel-order', 'orchestrator', 'cancel-order', `${ID}-cancel-order`],
  ['settle-order', 'orchestrator', 'settle-order', `${ID}-settle-order`],
  ['redo provisioning', 'provisioning', 'reprovision', `${ID}-reprovision-${AT}`],
  ['retry', 'orchestrator', 'retry', `${ID}-retry-${AT}`],
  ['deliver', 'notifications', 'deliver', 'ntf_07c0ffee00000000000000000000aa_order_confirmation'],
];
/** The watchdog's repeatable job: its scheduler upserts it by name, with no id of ours. */
const SWEEP = ['orchestrator', 'sweep'];

const row = (what: string, queue: string, name: string, id: string): [string, string, string, string] => [
  what,
  queue,
  name,
  id,
];
const policy = { attempts: 3, backoffMs: 20 };

/** What the code derives for each row of the contract. */
async function derived(): Promise<[string, string, string, string][]> {
  const jobs = purchaseJobs(ID);
  const named = (kind: string, name: string) => jobs.find((j) => j.kind === kind && j.name === name)!;
  const stages = jobs
    .filter((j) => j.kind === 'stage')
    .map((j) => row(`stage ${j.id.slice(ID.length + 1)}`, j.queue, j.name, j.id));
  const undos = UNDOABLE.map((s) => {
    const j = jobs.find((x) => x.kind === 'undo' && x.name === s.compensate.job)!;
    return row(`undo ${s.name}`, j.queue, j.name, j.id);
  });
  const redos = redoJobs(ID, REPAIRABLE, policy, AT).map((j) =>
    row(`redo ${REPAIRABLE.find((s) => s.repair.job === j.name)!.name}`, j.queueName, j.name, j.opts!.jobId!),
  );
  const delivered: { name: string; opts?: { jobId?: string } }[] = [];
  const webhooks = { addBulk: async (list: typeof delivered) => void delivered.push(...list) } as unknown as Queue;
  await deliverByWebhook(webhooks, [{ id: notificationId(ID, 'order_confirmation') } as Notification]);
  return [
    ...stages,
    ...undos,
    row('settle', named('settle', SETTLE_JOB).queue, SETTLE_JOB, named('settle', SETTLE_JOB).id),
    row(
      'cancel-order',
      named('order-cancel', CANCEL_ORDER_JOB).queue,
      CANCEL_ORDER_JOB,
      named('order-cancel', CANCEL_ORDER_JOB).id,
    ),
    row(
      'settle-order',
      named('settle', SETTLE_ORDER_JOB).queue,
      SETTLE_ORDER_JOB,
      named('settle', SETTLE_ORDER_JOB).id,
    ),
    ...redos,
    // Added by POST /admin/purchases/:id/retry on the purchase's orchestrator queue.
    row('retry', QUEUES.orchestrator, RETRY_JOB, retryJobId(ID, AT)),
    ...delivered.map((j) => row('deliver', QUEUES.notifications, j.name, j.opts!.jobId!)),
  ];
}

describe('the job contract a running deployment depends on across an upgrade', () => {
  it('every queue, job name and job id is the one the table pins', async () => {
    expect(await derived()).toEqual(CONTRACT);
    expect([QUEUES.orchestrator, SWEEP_JOB]).toEqual(SWEEP);
  });

  it('the queues and the step names (undo job ids and record fields carry them) are the ones pinned', () => {
    expect(Object.values(QUEUES)).toEqual(['orchestrator', 'payment', 'provisioning', 'notifications']);
    expect(STEP_NAMES).toEqual([...STEPS_IN_ORDER]);
  });

  it("the workers' saga handlers serve exactly the saga jobs of the table, each on its queue", () => {
    const handlers = sagaHandlers({ stores: {} } as SagaContext);
    const served = Object.entries(handlers).flatMap(([queue, jobs]) =>
      Object.keys(jobs).map((name) => `${queue}/${name}`),
    );
    // retry, sweep and deliver are the workers' own (src/workers/workers.ts), beside the saga's table.
    const saga = CONTRACT.filter(([what]) => !['retry', 'deliver'].includes(what)).map(([, q, name]) => `${q}/${name}`);
    expect(served.sort()).toEqual([...new Set(saga)].sort());
  });

  it('every id of a purchase keeps its shard digits and has no colon (BullMQ refuses one in a custom id)', () => {
    for (const [what, , , id] of CONTRACT) {
      expect(id, what).not.toContain(':');
      expect(id.slice(4, 6), what).toBe('07');
    }
  });
});
