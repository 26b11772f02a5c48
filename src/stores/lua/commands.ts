import { readFileSync } from 'node:fs';
import type { ClientContext, Cluster, Redis, RedisCommander, Result } from 'ioredis';

// Conventions for these scripts (naming, KEYS, headers, loading): README.md in this folder.

/** The commands as ioredis calls them: positional, in the order of each file's KEYS then ARGV. */
export interface LuaCommands<Context extends ClientContext = { type: 'default' }> {
  /** update-purchase-3.lua: -1 no record, 0 guard failed (nothing written), 1 applied (2: and a cancel is requested). Call through updatePurchase(). */
  updatePurchase(
    record: string,
    openSet: string,
    reviewSet: string,
    guard: string,
    outcomeChannel: string,
    progressChannel: string,
    id: string,
    close: string,
    step: string,
    stepStatus: string,
    ...fields: string[]
  ): Result<-1 | 0 | 1 | 2, Context>;
  /** cancel-or-pivot-2.lua: the outcome of a cancel request, a pivot claim or an order-cancel request. */
  cancelOrPivot(
    record: string,
    openSet: string,
    mode: 'cancel' | 'pivot' | 'cancel-order',
    nowIso: string,
    nowMs: number,
    pivotField: string,
    progressChannel: string,
    id: string,
    ...undoFields: string[]
  ): Result<string, Context>;
  /** accept-purchase-6.lua: the earlier claim's value (nothing written), or null. Call through acceptPurchase(). */
  acceptPurchase(
    record: string,
    openSet: string,
    claim: string,
    acknowledgement: string,
    acknowledgements: string,
    purchases: string,
    id: string,
    createdAtMs: number,
    claimValue: string,
    claimTtlS: number,
    acknowledgementJson: string,
    acknowledgementId: string,
    retentionS: number,
    ...fields: string[]
  ): Result<string | null, Context>;
  /** reserve-stock-n.lua: the result JSON, the first one on a re-run. */
  reserveStock(
    ...args: [numKeys: number, reservation: string, ...stockAndQuota: string[], request: string]
  ): Result<string, Context>;
  /** transition-reservation-1.lua: the state afterwards ('none' if never reserved). */
  transitionReservation(
    reservation: string,
    from: string,
    to: string,
    available: number,
    reserved: number,
    sold: number,
    quotaReturns: '0' | '1',
  ): Result<string, Context>;
  /** restock-settled-n.lua: 'restocked' when it moved the units now, else the reservation's state. */
  restockSettled(
    ...args: [numKeys: number, reservation: string, ...stockAndQuota: string[], request: string]
  ): Result<string, Context>;
  /** settle-reservation-1.lua: the state the reservation had ('none' without one). */
  settleReservation(reservation: string): Result<string, Context>;
  /** take-fault-1.lua: the armed failure's mode, or null. */
  takeFault(point: string): Result<string | null, Context>;
  /** payment-op-1.lua: the built-in provider's payment (JSON) after the operation, or null when there is none. */
  paymentOp(
    payment: string,
    op: 'authorize' | 'complete' | 'capture' | 'void' | 'refund',
    to: string,
    reason: string,
    merge?: string,
    create?: string,
  ): Result<string | null, Context>;
  /** partner-callback-1.lua: what a partner's callback did to a unit waiting for it. */
  partnerCallback(
    unit: string,
    status: 'active' | 'failed',
    externalRef: string,
    reason: string,
    nowIso: string,
    mode: 'take' | 'answer',
  ): Result<'missing' | 'taken' | 'again' | 'closed', Context>;
  /** set-available-1.lua: the available count it had. */
  setAvailable(stock: string, available: number): Result<number, Context>;
}

// Every connection, pipeline and MULTI of ioredis (Redis and Cluster alike) is a RedisCommander.
declare module 'ioredis' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging needs the interface form
  interface RedisCommander<Context> extends LuaCommands<Context> {}
}

/** Each command's file: a command without a file, or a file without a command, does not compile. */
const FILES = {
  acceptPurchase: 'accept-purchase-6.lua',
  cancelOrPivot: 'cancel-or-pivot-2.lua',
  partnerCallback: 'partner-callback-1.lua',
  paymentOp: 'payment-op-1.lua',
  reserveStock: 'reserve-stock-n.lua',
  restockSettled: 'restock-settled-n.lua',
  setAvailable: 'set-available-1.lua',
  settleReservation: 'settle-reservation-1.lua',
  takeFault: 'take-fault-1.lua',
  transitionReservation: 'transition-reservation-1.lua',
  updatePurchase: 'update-purchase-3.lua',
} as const satisfies Record<keyof LuaCommands, string>;

export interface LuaScript {
  name: keyof LuaCommands;
  file: string;
  /** undefined for a `-n` script: the caller passes the key count. */
  numberOfKeys: number | undefined;
  lua: string;
}

const FILE_NAME = /^([a-z][a-z0-9-]*)-(\d+|n)\.lua$/;

/** The scripts, read once; a file named against the convention or after another command fails at load. */
export const SCRIPTS: readonly LuaScript[] = Object.entries(FILES).map(([name, file]) => {
  const match = FILE_NAME.exec(file);
  if (!match || match[1]!.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()) !== name) {
    throw new Error(`src/stores/lua/${file} is not <name>-<numKeys>.lua for the command ${name}`);
  }
  const numberOfKeys = match[2] === 'n' ? undefined : Number(match[2]);
  return {
    name: name as keyof LuaCommands,
    file,
    numberOfKeys,
    lua: readFileSync(new URL(file, import.meta.url), 'utf8'),
  };
});

const defined = new WeakSet<Redis | Cluster>();

/** Defines every script as a command on `redis`, once per connection (a second call does nothing). */
export function defineCommands(redis: Redis | Cluster): void {
  if (defined.has(redis)) return;
  for (const { name, numberOfKeys, lua } of SCRIPTS) redis.defineCommand(name, { numberOfKeys, lua });
  defined.add(redis);
}

/** update-purchase-3's arguments by name (see the file's header). */
export interface PurchaseUpdate {
  record: string;
  openSet: string;
  /** The record's shard's review queue. */
  reviewSet: string;
  /** '' any phase, 'x' the phase is x, '!x' it is not. */
  guard: string;
  outcomeChannel: string;
  progressChannel: string;
  id: string;
  /** '' stays open; else the record's retention in seconds (0 = keep forever). */
  close: string;
  /** The step whose status changes and that status, or ''. */
  step: string;
  stepStatus: string;
  /** The hash fields to write. */
  fields: Record<string, string>;
}

/** Runs update-purchase-3 with named arguments: 1 applied (2: and a cancel is requested), 0 guard failed, -1 no record. */
export function updatePurchase(redis: RedisCommander, u: PurchaseUpdate): Promise<-1 | 0 | 1 | 2> {
  return redis.updatePurchase(
    u.record,
    u.openSet,
    u.reviewSet,
    u.guard,
    u.outcomeChannel,
    u.progressChannel,
    u.id,
    u.close,
    u.step,
    u.stepStatus,
    ...pairs(u.fields),
  );
}

/** accept-purchase-6's arguments by name (see the file's header); an absent key is ''. */
export interface PurchaseAcceptance {
  record: string;
  openSet: string;
  claim: string;
  acknowledgement: string;
  acknowledgements: string;
  /** The customer's purchase index. */
  purchases: string;
  id: string;
  createdAtMs: number;
  claimValue: string;
  claimTtlS: number;
  acknowledgementJson: string;
  acknowledgementId: string;
  retentionS: number;
  /** The record's hash fields. */
  fields: Record<string, string>;
}

/** Runs accept-purchase-6 with named arguments: the earlier claim's value, or null when accepted. */
export function acceptPurchase(redis: RedisCommander, a: PurchaseAcceptance): Promise<string | null> {
  return redis.acceptPurchase(
    a.record,
    a.openSet,
    a.claim,
    a.acknowledgement,
    a.acknowledgements,
    a.purchases,
    a.id,
    a.createdAtMs,
    a.claimValue,
    a.claimTtlS,
    a.acknowledgementJson,
    a.acknowledgementId,
    a.retentionS,
    ...pairs(a.fields),
  );
}

/** A hash as field/value pairs, built with a loop: Array#flat over entries is much dearer on every record write (docs/performance.md). */
function pairs(hash: Record<string, string>): string[] {
  const out: string[] = [];
  for (const field in hash) out.push(field, hash[field]!);
  return out;
}
