/**
 * Log compaction (cleanup.policy compact), after Kafka's LogCleaner: keep only the latest
 * record per key in the closed segments, drop tombstones once they are older than
 * delete.retention.ms, leave segments newer than min.compaction.lag.ms alone, and keep every
 * kept record's offset (a batch keeps its base offset and last offset delta; gaps appear).
 */
import type { TopicConfig } from '../config.ts'
import type { SegmentInfo } from '../broker.ts'
import type { StorageAdapter, StorageWrite, StoredBatch, StreamId } from '../storage.ts'
import { decodeBatch, encodeBatchAsync, type BatchHeader, type DecodedRecord } from '../codec/record-batch.ts'
import { keys } from './keys.ts'
import type { PartitionHead } from './partition-log.ts'

/** Kafka's min.cleanable.dirty.ratio default: clean when half the cleanable log is dirty. */
const MIN_CLEANABLE_DIRTY_RATIO = 0.5
const READ_CHUNK_BYTES = 1 << 20

export interface CompactionInput {
  storage: StorageAdapter
  stream: StreamId
  segments: SegmentInfo[]
  head: PartitionHead
  config: TopicConfig
  now: number
  force: boolean
  /** The last stable offset: segments reaching past it hold an ongoing transaction and stay as they are. */
  stableOffset?: number
  /** Whether a transactional record belongs to an aborted transaction: such records are dropped. */
  isAborted?: (producerId: number, offset: number) => boolean
}

export interface CompactionResult { segments: SegmentInfo[]; head: PartitionHead; compacted: number }

export async function compactSegments(input: CompactionInput): Promise<CompactionResult | null> {
  const { storage, stream, head, config, now } = input
  const lagLimit = now - config['min.compaction.lag.ms']
  // Cleanable: closed segments, oldest first, up to the first one still inside the lag.
  const cleanable: SegmentInfo[] = []
  const stable = input.stableOffset ?? Number.MAX_SAFE_INTEGER
  for (const segment of input.segments.slice(0, -1)) {
    if (segment.maxTimestamp > lagLimit || segment.endOffset > stable) break
    cleanable.push(segment)
  }
  const dirty = cleanable.filter((s) => s.endOffset > head.cleanedTo && s.batches > 0)
  if (dirty.length === 0) return null
  const dirtyBytes = dirty.reduce((sum, s) => sum + s.sizeBytes, 0)
  const totalBytes = cleanable.reduce((sum, s) => sum + s.sizeBytes, 0)
  if (!input.force && dirtyBytes / Math.max(totalBytes, 1) < MIN_CLEANABLE_DIRTY_RATIO) return null

  const latest = new Map<string, number>()
  const aborted = (header: BatchHeader, record: DecodedRecord) =>
    header.isTransactional && input.isAborted !== undefined && input.isAborted(header.producerId, record.offset)
  for (const segment of dirty) {
    await forEachBatch(storage, stream, segment, async (batch) => {
      const { header, records } = await decodeBatch(batch.bytes)
      // Markers have no user key; an aborted record never was a key's latest value.
      if (header.isControl) return
      for (const record of records) {
        if (record.key && !aborted(header, record)) latest.set(keyString(record.key), record.offset)
      }
    })
  }

  const tombstoneLimit = now - config['delete.retention.ms']
  const keep = (record: DecodedRecord): boolean => {
    if (!record.key) return false
    const newest = latest.get(keyString(record.key))
    if (newest !== undefined && newest !== record.offset) return false
    return record.value !== null || record.timestamp > tombstoneLimit
  }

  const segments = input.segments.map((s) => ({ ...s }))
  let compacted = 0
  for (const segment of segments.slice(0, cleanable.length)) {
    if (segment.batches === 0) continue
    let sizeBytes = 0
    let batches = 0
    let changed = false
    // Each chunk's rewrite is committed when the next chunk is ready, and the segment's last one
    // together with the segment's new size: a crash never leaves a segment's metadata stale.
    let pending: StorageWrite | null = null
    await forEachChunk(storage, stream, segment, async (chunk) => {
      if (pending) await storage.commit(pending)
      pending = null
      const rewritten: StoredBatch[] = []
      for (const batch of chunk) {
        const { header, records } = await decodeBatch(batch.bytes)
        // Markers stay: readers need them to end aborted transactions (the index keeps those until the log start passes).
        if (header.isControl) {
          rewritten.push(batch)
          continue
        }
        const kept = records.filter((r) => keep(r) && !aborted(header, r))
        if (kept.length === records.length) {
          rewritten.push(batch)
          continue
        }
        changed = true
        if (kept.length === 0) continue
        const bytes = await encodeBatchAsync(
          kept.map((r) => ({ key: r.key, value: r.value, timestamp: r.timestamp, headers: r.headers, offsetDelta: r.offset - header.baseOffset })),
          {
            baseOffset: header.baseOffset, lastOffsetDelta: header.lastOffsetDelta, baseTimestamp: header.baseTimestamp,
            producerId: header.producerId, producerEpoch: header.producerEpoch, baseSequence: header.baseSequence,
            partitionLeaderEpoch: header.partitionLeaderEpoch, compression: header.compression, timestampType: header.timestampType,
            isTransactional: header.isTransactional,
          },
        )
        rewritten.push({ baseOffset: batch.baseOffset, lastOffset: batch.lastOffset, maxTimestamp: Math.max(...kept.map((r) => r.timestamp)), bytes })
      }
      for (const b of rewritten) { sizeBytes += b.bytes.byteLength; batches += 1 }
      if (rewritten.length === chunk.length && rewritten.every((b, i) => b === chunk[i])) return
      pending = {
        deleteRanges: [{ stream, fromOffset: chunk[0].baseOffset, toOffset: chunk[chunk.length - 1].lastOffset + 1 }],
        batches: rewritten.map((batch) => ({ stream, batch })),
      }
    })
    if (changed) {
      compacted += 1
      segment.sizeBytes = sizeBytes
      segment.batches = batches
      const last = pending as StorageWrite | null
      await storage.commit({ ...last, meta: [{ key: keys.segment(stream, segment.baseOffset), value: segment }] })
    }
  }
  const cleanedTo = dirty[dirty.length - 1].endOffset
  const nextHead: PartitionHead = { ...head, cleanedTo: Math.max(head.cleanedTo, cleanedTo) }
  await storage.commit({
    meta: [
      ...segments.slice(0, cleanable.length).map((s) => ({ key: keys.segment(stream, s.baseOffset), value: s })),
      { key: keys.head(stream), value: nextHead },
    ],
  })
  return { segments, head: nextHead, compacted }
}

async function forEachChunk(
  storage: StorageAdapter, stream: StreamId, segment: SegmentInfo, fn: (chunk: StoredBatch[]) => Promise<void>,
): Promise<void> {
  let from = segment.baseOffset
  while (from < segment.endOffset) {
    const chunk = await storage.readBatches(stream, from, { maxBytes: READ_CHUNK_BYTES, toOffset: segment.endOffset })
    if (chunk.length === 0) return
    await fn(chunk)
    from = chunk[chunk.length - 1].lastOffset + 1
  }
}

async function forEachBatch(
  storage: StorageAdapter, stream: StreamId, segment: SegmentInfo, fn: (batch: StoredBatch) => Promise<void>,
): Promise<void> {
  await forEachChunk(storage, stream, segment, async (chunk) => { for (const batch of chunk) await fn(batch) })
}

function keyString(key: Uint8Array): string {
  let s = ''
  for (let i = 0; i < key.length; i += 4096) s += String.fromCharCode.apply(null, key.subarray(i, i + 4096) as unknown as number[])
  return s
}
