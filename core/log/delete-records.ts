/**
 * Kafka's DeleteRecords: the partition's log start moves up to an offset, and every batch
 * wholly below it goes. Segments emptied by it go too; the one it cuts into keeps its place
 * and loses those batches from its figures, so segments always agree with the batches held.
 */
import type { SegmentInfo } from '../broker.ts'
import type { StorageWrite, StoredBatch, StreamId } from '../storage.ts'
import type { PartitionHead } from './append-plan.ts'
import { keys } from './keys.ts'

export function planDeleteRecords(
  stream: StreamId, head: PartitionHead, segments: SegmentInfo[], below: StoredBatch[], offset: number,
): { write: StorageWrite; head: PartitionHead; segments: SegmentInfo[] } {
  const doomed = below.filter((b) => b.lastOffset < offset)
  const meta: Array<{ key: string; value: unknown }> = []
  const kept: SegmentInfo[] = []
  for (const s of segments) {
    if (s.endOffset <= offset) {
      meta.push({ key: keys.segment(stream, s.baseOffset), value: undefined })
      continue
    }
    const inside = doomed.filter((b) => b.baseOffset >= s.baseOffset && b.baseOffset < s.endOffset)
    const next = inside.length === 0 ? s : {
      ...s, batches: s.batches - inside.length, sizeBytes: s.sizeBytes - inside.reduce((n, b) => n + b.bytes.byteLength, 0),
    }
    if (next !== s) meta.push({ key: keys.segment(stream, s.baseOffset), value: next })
    kept.push(next)
  }
  const last = kept[kept.length - 1]
  const nextHead: PartitionHead = {
    ...head,
    logStartOffset: offset,
    activeSegment: last ? last.baseOffset : head.nextOffset,
    cleanedTo: Math.max(head.cleanedTo, offset),
  }
  meta.push({ key: keys.head(stream), value: nextHead })
  return {
    write: { deleteRanges: doomed.length ? [{ stream, fromOffset: 0, toOffset: offset }] : [], meta },
    head: nextHead,
    segments: kept,
  }
}
