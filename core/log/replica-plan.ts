/**
 * Plans a follower's append to a replica partition: the leader's batches, at the offsets
 * they already carry, byte for byte. Nothing is re-encoded and no offset is assigned; the
 * replica only checks that each batch is intact and continues its log (a gap is allowed: a
 * compacted leader has them). The partition log commits the plan as one storage write.
 */
import { EdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { SegmentInfo } from '../broker.ts'
import type { StoredBatch, StreamId } from '../storage.ts'
import { decodeRecords, validateBatch, type BatchHeader } from '../codec/record-batch.ts'
import { readControlRecord } from '../codec/control-batch.ts'
import { txnKeys, type AbortedTxn, type OngoingTxn, type PartitionTxnRecord } from './txn-index.ts'
import { keys } from './keys.ts'
import { addToActiveSegment, type PartitionHead } from './append-plan.ts'

/** What a replica knows of its leader, kept beside its head (`replica/<stream>`). */
export interface ReplicaPosition {
  /** The leader's log start offset and high watermark as of the last fetch. */
  leaderLogStartOffset: number
  leaderHighWatermark: number
  /** When the replica last heard from its leader (ms since epoch). */
  syncedAt: number
}

export const replicaKey = (stream: StreamId) => `replica/${stream}`

export interface ReplicaPlan {
  batches: StoredBatch[]
  meta: Array<{ key: string; value: unknown }>
  head: PartitionHead
  segments: SegmentInfo[]
  bytes: number
  /** Set when the leader's batches start or end transactions: the new `txnp` record and the aborted ones it adds. */
  txn?: { record: PartitionTxnRecord; aborted: AbortedTxn[] }
}

export async function planReplicaAppend(
  incoming: Uint8Array[],
  ctx: {
    stream: StreamId; config: TopicConfig; now: number; head: PartitionHead; segments: SegmentInfo[]; position: ReplicaPosition
    /** The replica's transactions so far (txn-index.ts): a replica keeps its own LSO and aborted index, as a Kafka follower does. */
    txns?: { ongoing: ReadonlyMap<number, OngoingTxn>; lastAborted: number }
  },
): Promise<ReplicaPlan> {
  let head = ctx.head
  const segments = ctx.segments.slice()
  const touched = new Set<number>()
  const batches: StoredBatch[] = []
  let bytes = 0
  let ongoing: Map<number, OngoingTxn> | undefined
  const aborted: AbortedTxn[] = []
  let lastAborted = ctx.txns?.lastAborted ?? -1
  const openTxn = (producerId: number) => (ongoing ?? ctx.txns?.ongoing)?.get(producerId)
  for (const batch of incoming) {
    const header = await validateBatch(batch)
    const lastOffset = header.baseOffset + header.lastOffsetDelta
    // Already held (a fetch answers from the batch holding the offset asked for).
    if (lastOffset < head.nextOffset) continue
    if (header.baseOffset < head.nextOffset) {
      throw new EdgelogError('CORRUPT_MESSAGE', `${ctx.stream}: the leader's batch ${header.baseOffset}..${lastOffset} overlaps the replica, which ends at ${head.nextOffset}`)
    }
    touched.add(addToActiveSegment(segments, { baseOffset: header.baseOffset, lastOffset, maxTimestamp: header.maxTimestamp, size: batch.byteLength }, ctx.config, ctx.now))
    head = { ...head, activeSegment: segments[segments.length - 1].baseOffset, nextOffset: lastOffset + 1 }
    batches.push({ baseOffset: header.baseOffset, lastOffset, maxTimestamp: header.maxTimestamp, bytes: batch })
    bytes += batch.byteLength
    // The leader's transactions, as its own log tracks them (append-plan.ts): a transactional
    // batch opens its producer's transaction here, a marker closes it, an abort marker indexes it.
    if (header.producerId < 0 || !header.isTransactional) continue
    const open = openTxn(header.producerId)
    if (header.isControl) {
      if (!open) continue
      ongoing ??= new Map(ctx.txns?.ongoing)
      ongoing.delete(header.producerId)
      if (controlType(batch, header) === 'abort') {
        aborted.push({ producerId: header.producerId, firstOffset: open.firstOffset, lastOffset: header.baseOffset })
        lastAborted = header.baseOffset
      }
    } else if (!open) {
      ongoing ??= new Map(ctx.txns?.ongoing)
      ongoing.set(header.producerId, { producerId: header.producerId, producerEpoch: header.producerEpoch, firstOffset: header.baseOffset })
    }
  }
  const meta: ReplicaPlan['meta'] = [{ key: keys.head(ctx.stream), value: head }, { key: replicaKey(ctx.stream), value: ctx.position }]
  for (const i of touched) meta.push({ key: keys.segment(ctx.stream, segments[i].baseOffset), value: segments[i] })
  let txn: ReplicaPlan['txn']
  if (ongoing) {
    txn = { record: { ongoing: [...ongoing.values()], lastAborted }, aborted }
    meta.push({ key: txnKeys.partition(ctx.stream), value: txn.record })
    for (const t of aborted) meta.push({ key: txnKeys.aborted(ctx.stream, t.lastOffset), value: t })
  }
  return { batches, meta, head, segments, bytes, txn }
}

/** A control batch's type (its one record's key); markers are written uncompressed, as Kafka's are. */
function controlType(batch: Uint8Array, header: BatchHeader): 'abort' | 'commit' | undefined {
  if (header.compression !== 'none') return undefined
  const [record] = decodeRecords(batch, header)
  return record ? readControlRecord(record)?.type : undefined
}
