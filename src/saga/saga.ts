import { QUEUES, type QueueName } from '../queues/contract.js';
import type { RepairableStep, Step, UndoableStep } from './define-step.js';
import { inventoryUpdate } from './steps/inventory-update.js';
import { notification } from './steps/notification.js';
import { orderPlacement } from './steps/order-placement.js';
import { payment } from './steps/payment.js';
import { provisioning } from './steps/provisioning.js';
import { stockCheck } from './steps/stock-check.js';
import { validation } from './steps/validation.js';

/**
 * The saga: its steps in order, grouped in stages. A stage is one BullMQ job that runs
 * its steps one after the other, each still recorded, retried and undone on its own;
 * steps share a job where a queue hop buys nothing (a hop costs more than a local
 * step), while the steps that call an outside system (payment, partners, the OMS) get
 * a queue of their own so their concurrency and retries can be tuned apart. A step's
 * undo runs on its stage's queue.
 *
 * `prepare` is the gateway's hand-off; it adds the rest as a flow whose root is the last stage.
 * Everything else (step names, handler tables, undo and redo jobs, fault points) derives from this list.
 */
export const SAGA = [
  { name: 'prepare', queue: QUEUES.orchestrator, job: 'start', steps: [validation, stockCheck] },
  { name: 'charge', queue: QUEUES.payment, job: 'charge', steps: [payment, inventoryUpdate] },
  { name: 'fulfil', queue: QUEUES.provisioning, job: 'fulfil', steps: [provisioning, orderPlacement] },
  { name: 'complete', queue: QUEUES.orchestrator, job: 'complete', steps: [notification] },
] as const satisfies readonly Stage[];

export interface Stage {
  name: string;
  queue: QueueName;
  job: string;
  steps: readonly Step[];
}

export type StageName = (typeof SAGA)[number]['name'];
export type SagaStep = (typeof SAGA)[number]['steps'][number];
export type StepName = SagaStep['name'];

/** The tables the engine runs on, derived from a saga list (a test can derive them from a list of its own). */
export function deriveSaga<const S extends readonly Stage[]>(saga: S) {
  type SagaStepOf = S[number]['steps'][number];
  const steps: readonly SagaStepOf[] = saga.flatMap((stage): readonly SagaStepOf[] => stage.steps);
  const stageOfStep = new Map<string, S[number]>(
    saga.flatMap((stage) => stage.steps.map((s) => [s.name, stage] as const)),
  );
  return {
    /** Every step in execution order. */
    steps,
    names: steps.map((s) => s.name) as readonly SagaStepOf['name'][],
    stageOf: (step: Step): S[number] => stageOfStep.get(step.name)!,
    /** Steps with an undo, in execution order. */
    undoable: steps.filter((s): s is SagaStepOf & UndoableStep => 'compensate' in s),
    /** Steps that can tell their work was lost, in execution order: an operator's retry redoes them. */
    repairable: steps.filter((s): s is SagaStepOf & RepairableStep => 'repair' in s),
    /** Fault points an operator can arm: each step's, and every call to a partner service. */
    faultPoints: [...steps.flatMap((s) => (s.fault ? [s.fault] : [])), 'external'],
  };
}

const derived = deriveSaga(SAGA);
export const STEPS: readonly SagaStep[] = derived.steps;
export const STEP_NAMES: readonly StepName[] = derived.names;
export const stageOf: (step: Step) => Stage = derived.stageOf;
/** A step of this saga with an undo; its name is a StepName, no cast needed. */
export type Undoable = SagaStep & UndoableStep;
export type Repairable = SagaStep & RepairableStep;
export const UNDOABLE: readonly Undoable[] = derived.undoable;
export const REPAIRABLE: readonly Repairable[] = derived.repairable;
export const FAULT_POINTS: readonly string[] = derived.faultPoints;
export const stepNamed = (name: string): SagaStep | undefined => STEPS.find((s) => s.name === name);
/** The hand-off: the one job the gateway adds. */
export const START_STAGE = SAGA[0];
/** The flow's root: it always runs, and starts compensation when a step failed. */
export const ROOT_STAGE = SAGA[SAGA.length - 1]!;
