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
import { validateBatch } from '../codec/record-batch.ts'
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
}

export async function planReplicaAppend(
  incoming: Uint8Array[],
  ctx: { stream: StreamId; config: TopicConfig; now: number; head: PartitionHead; segments: SegmentInfo[]; position: ReplicaPosition },
): Promise<ReplicaPlan> {
  let head = ctx.head
  const segments = ctx.segments.slice()
  const touched = new Set<number>()
  const batches: StoredBatch[] = []
  let bytes = 0
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
  }
  const meta: ReplicaPlan['meta'] = [{ key: keys.head(ctx.stream), value: head }, { key: replicaKey(ctx.stream), value: ctx.position }]
  for (const i of touched) meta.push({ key: keys.segment(ctx.stream, segments[i].baseOffset), value: segments[i] })
  return { batches, meta, head, segments, bytes }
}
