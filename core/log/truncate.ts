/**
 * Truncation of a log's tail: every batch at or past an offset goes (a batch holding the
 * offset goes whole). Replication needs it (core/replication): a follower that returns after a
 * leader change drops what the new leader never had (KIP-101), cut at the leader epoch
 * boundary. Segments past the cut go, the one cut into shrinks to what it keeps, and idempotent
 * producer state forgets the batches removed, so that the log, its segments and its producer
 * state keep agreeing.
 */
import type { SegmentInfo } from '../broker.ts'
import type { StorageAdapter, StorageWrite, StreamId } from '../storage.ts'
import type { PartitionHead } from './append-plan.ts'
import type { ProducerEntry } from './producer-state.ts'
import { keys } from './keys.ts'

export interface TruncatePlan {
  write: StorageWrite
  head: PartitionHead
  segments: SegmentInfo[]
  /** Offsets the log no longer holds: old end − new end. */
  removedOffsets: number
}

export async function planTruncate(
  storage: StorageAdapter, stream: StreamId, head: PartitionHead, segments: SegmentInfo[], offset: number,
): Promise<TruncatePlan> {
  if (offset >= head.nextOffset) return { write: {}, head, segments, removedOffsets: 0 }
  const removed = await storage.readBatches(stream, offset, { maxBytes: Number.MAX_SAFE_INTEGER })
  const cut = Math.max(0, Math.min(offset, removed[0]?.baseOffset ?? offset))
  const meta: Array<{ key: string; value: unknown }> = []
  const kept: SegmentInfo[] = []
  for (const s of segments) {
    if (s.baseOffset >= cut) {
      meta.push({ key: keys.segment(stream, s.baseOffset), value: undefined })
      continue
    }
    if (s.endOffset <= cut) {
      kept.push(s)
      continue
    }
    // The segment cut into: its figures are recomputed from the batches it keeps.
    const inside = await storage.readBatches(stream, s.baseOffset, { maxBytes: Number.MAX_SAFE_INTEGER, toOffset: cut })
    const trimmed: SegmentInfo = {
      ...s,
      endOffset: cut,
      batches: inside.length,
      sizeBytes: inside.reduce((n, b) => n + b.bytes.byteLength, 0),
      maxTimestamp: inside.reduce((m, b) => Math.max(m, b.maxTimestamp), -1),
    }
    meta.push({ key: keys.segment(stream, s.baseOffset), value: trimmed })
    kept.push(trimmed)
  }
  const last = kept[kept.length - 1]
  const nextHead: PartitionHead = {
    logStartOffset: Math.min(head.logStartOffset, cut),
    nextOffset: cut,
    activeSegment: last ? last.baseOffset : cut,
    cleanedTo: Math.min(head.cleanedTo, cut),
  }
  meta.push({ key: keys.head(stream), value: nextHead })
  // A producer's remembered batches past the cut are no longer in the log: a retry of one is new.
  for (const { key, value } of await storage.listMeta<ProducerEntry>(keys.producerPrefix(stream))) {
    const batches = value.batches.filter((b) => b.baseOffset < cut)
    if (batches.length === value.batches.length) continue
    meta.push({ key, value: batches.length ? { ...value, batches } : undefined })
  }
  return {
    write: { deleteRanges: [{ stream, fromOffset: cut, toOffset: Number.MAX_SAFE_INTEGER }], meta },
    head: nextHead,
    segments: kept,
    removedOffsets: head.nextOffset - cut,
  }
}
