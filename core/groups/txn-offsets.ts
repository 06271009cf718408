/**
 * Offsets committed inside a transaction (Kafka's TxnOffsetCommit, KafkaJS's
 * `transaction.sendOffsets`): kept pending under `txn-offset/<groupId>/<producerId>` until the
 * transaction ends. The coordinator's commit marker makes them the group's committed offsets,
 * in one write with the removal of the pending record; an abort marker drops them. A marker
 * for a producer with nothing pending (already ended) changes nothing.
 */
import type { OffsetCommit } from '../broker.ts'
import type { StorageAdapter } from '../storage.ts'
import { EdgelogError } from '../errors.ts'
import type { CoordinatorContext } from './coordinator-context.ts'
import { clone, newGroup } from './group-state.ts'
import { fail, validateOffsetCommit } from './requests.ts'

export interface PendingTxnOffsets {
  producerId: number
  producerEpoch: number
  offsets: Array<{ topic: string; partition: number; offset: number; metadata: string | null }>
}

export const pendingOffsetsKey = (groupId: string, producerId: number) => `txn-offset/${encodeURIComponent(groupId)}/${producerId}`

export async function txnOffsetCommit(
  ctx: CoordinatorContext, storage: StorageAdapter,
  req: { groupId: string; producerId: number; producerEpoch: number; offsets: OffsetCommit[] },
): Promise<void> {
  const { groupId, offsets } = validateOffsetCommit({ groupId: req?.groupId, offsets: req?.offsets })
  if (!Number.isSafeInteger(req.producerId) || req.producerId < 0 || !Number.isInteger(req.producerEpoch) || req.producerEpoch < 0) {
    fail('INVALID_REQUEST', 'A transactional offset commit needs producerId and producerEpoch')
  }
  await ctx.store.withGroup(groupId, async () => {
    for (const o of offsets) {
      let hw: number
      try {
        hw = await ctx.highWatermark(o.topic, o.partition)
      } catch (e) {
        if (e instanceof EdgelogError) throw e
        throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`, { cause: e })
      }
      if (!(hw >= 0)) fail('UNKNOWN_TOPIC_OR_PARTITION', `Unknown topic partition ${o.topic}-${o.partition}`)
    }
    const key = pendingOffsetsKey(groupId, req.producerId)
    const before = await storage.getMeta<PendingTxnOffsets>(key)
    const merged = new Map<string, PendingTxnOffsets['offsets'][number]>()
    // A later sendOffsets in the same transaction replaces the partition's earlier one.
    for (const o of before?.producerEpoch === req.producerEpoch ? before.offsets : []) merged.set(`${o.topic}\u0000${o.partition}`, o)
    for (const o of offsets) merged.set(`${o.topic}\u0000${o.partition}`, { topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? null })
    const pending: PendingTxnOffsets = { producerId: req.producerId, producerEpoch: req.producerEpoch, offsets: [...merged.values()] }
    await storage.commit({ meta: [{ key, value: pending }], durability: 'strict' })
  })
}

/** Groups whose cached offsets may be behind the store after a failed completion (read again before the next). */
const stale = new WeakMap<object, Set<string>>()
function staleGroups(ctx: CoordinatorContext): Set<string> {
  let set = stale.get(ctx.store)
  if (!set) stale.set(ctx.store, (set = new Set()))
  return set
}

/** The group's part of a transaction marker: pending offsets become committed, or go. */
export async function completeTxnOffsets(
  ctx: CoordinatorContext, storage: StorageAdapter, req: { groupId: string; producerId: number; commit: boolean },
): Promise<void> {
  await ctx.store.withGroup(req.groupId, async () => {
    const stale = staleGroups(ctx)
    if (stale.has(req.groupId)) {
      await ctx.store.reload(req.groupId)
      stale.delete(req.groupId)
    }
    const key = pendingOffsetsKey(req.groupId, req.producerId)
    const pending = await storage.getMeta<PendingTxnOffsets>(key)
    if (!pending) return
    const drop = [{ key, value: undefined }]
    if (!req.commit || pending.offsets.length === 0) {
      await storage.commit({ meta: drop, durability: 'strict' })
      return
    }
    const now = ctx.now()
    const current = ctx.store.groups.get(req.groupId)
    const group = current ?? newGroup(req.groupId, now)
    const puts = pending.offsets.map((o) => ({ topic: o.topic, partition: o.partition, record: { offset: o.offset, metadata: o.metadata, commitTimestamp: now } }))
    try {
      await ctx.store.save(req.groupId, current ? group : clone(group), puts, [], false, drop)
    } catch (error) {
      // Perhaps applied (an ambiguous failure): the cache must not keep the old offsets while
      // the pending record is gone, or the retry (finding nothing pending) would leave it stale.
      staleGroups(ctx).add(req.groupId)
      throw error
    }
  })
}

/**
 * Kafka's require_stable (KIP-447): UNSTABLE_OFFSET_COMMIT, retriable, while a transaction
 * holds offsets of the group's `topics` (all, when none named) pending — the consumer asks again
 * once the transaction ended, and so never starts from an offset its end is about to move.
 * Reads only the group's pending records (one per open transaction), not its offsets.
 */
export async function assertStableOffsets(storage: StorageAdapter, req: { groupId: string; topics?: string[] }): Promise<void> {
  if (typeof req?.groupId !== 'string') return // fetchOffsets refuses it, typed
  const pending = await storage.listMeta<PendingTxnOffsets>(`txn-offset/${encodeURIComponent(req.groupId)}/`)
  const topics = req.topics ? new Set(req.topics) : undefined
  for (const { value } of pending) {
    const held = value?.offsets?.find((o) => !topics || topics.has(o.topic))
    if (held) {
      throw new EdgelogError('UNSTABLE_OFFSET_COMMIT', `Group '${req.groupId}' has an offset of ${held.topic}-${held.partition} pending in an open transaction (producer ${value.producerId}): ask again when it ends`)
    }
  }
}
