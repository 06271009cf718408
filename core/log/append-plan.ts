/**
 * Plans one group commit: the batches waiting for a partition get their offsets, the segment
 * they land in (rolling as needed), and their producers' sequence checks, against the log's
 * current state — without changing it. The partition log then commits the whole plan as one
 * storage write and adopts the planned state only if that succeeded.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { SegmentInfo } from '../broker.ts'
import type { StoredBatch, StreamId } from '../storage.ts'
import { decodeRecords, setBaseOffset, type BatchHeader } from '../codec/record-batch.ts'
import { readControlRecord } from '../codec/control-batch.ts'
import { crc32c } from '../codec/crc32c.ts'
import { keys } from './keys.ts'
import { checkSequence, lastSequence, recordBatch, type ProducerEntry } from './producer-state.ts'
import { txnKeys, type AbortedTxn, type OngoingTxn, type PartitionTxnRecord } from './txn-index.ts'

export interface PartitionHead {
  logStartOffset: number
  nextOffset: number
  /** Base offset of the active (last) segment. */
  activeSegment: number
  /** Offset up to which compaction has cleaned (the cleaner's checkpoint). */
  cleanedTo: number
}

export interface AppendResult { baseOffset: number; logAppendTime: number; duplicate: boolean }

export interface AppendPlan {
  /** Per batch, in order: where it went, or why it was refused (nothing else is affected). */
  results: Array<AppendResult | EdgelogError>
  batches: StoredBatch[]
  meta: Array<{ key: string; value: unknown }>
  head: PartitionHead
  segments: SegmentInfo[]
  producers: Map<number, ProducerEntry>
  bytes: number
  /** Set when the plan starts or ends transactions here: the new `txnp` record and the aborted ones it adds. */
  txn?: { record: PartitionTxnRecord; aborted: AbortedTxn[] }
}

export interface PlanContext {
  stream: StreamId
  config: TopicConfig
  now: number
  head: PartitionHead
  segments: SegmentInfo[]
  producerEntry: (producerId: number) => Promise<ProducerEntry | undefined>
  /** The partition's ongoing transactions and its last abort marker's offset (txn-index.ts). */
  txns?: { ongoing: ReadonlyMap<number, OngoingTxn>; lastAborted: number }
  /** Which items are transaction markers the coordinator wrote (control batches come from nowhere else). */
  isMarker?: (index: number) => boolean
}

export async function planAppends(items: Array<{ bytes: Uint8Array; header: BatchHeader }>, ctx: PlanContext): Promise<AppendPlan> {
  const { config, now, stream } = ctx
  let head = ctx.head
  const segments = ctx.segments.slice()
  const producers = new Map<number, ProducerEntry>()
  const results: AppendPlan['results'] = []
  const batches: StoredBatch[] = []
  const touchedSegments = new Set<number>()
  let bytesAppended = 0
  const claimed = new ClaimedRegions()
  let ongoing: Map<number, OngoingTxn> | undefined
  const aborted: AbortedTxn[] = []
  let lastAborted = ctx.txns?.lastAborted ?? -1
  const openTxn = (producerId: number) => (ongoing ?? ctx.txns?.ongoing)?.get(producerId)
  for (const [index, item] of items.entries()) {
    const { header } = item
    if (header.isControl && ctx.isMarker?.(index)) {
      // A transaction marker: ends the producer's transaction here. One for a transaction that
      // already ended (a coordinator finishing it again after a crash) stores nothing.
      const producer = producers.get(header.producerId) ?? await ctx.producerEntry(header.producerId)
      const open = openTxn(header.producerId)
      if ((producer && header.producerEpoch < producer.epoch) || !open) {
        // A higher epoch fences the producer's older epochs here even without a transaction.
        if (!producer || header.producerEpoch > producer.epoch) {
          producers.set(header.producerId, { producerId: header.producerId, epoch: header.producerEpoch, batches: [], lastTimestamp: now })
        }
        results.push({ baseOffset: -1, logAppendTime: -1, duplicate: true })
        continue
      }
      const bytes = item.bytes
      const baseOffset = head.nextOffset
      setBaseOffset(bytes, baseOffset)
      touchedSegments.add(addToActiveSegment(segments, { baseOffset, lastOffset: baseOffset, maxTimestamp: header.maxTimestamp, size: bytes.byteLength }, config, now))
      head = { ...head, activeSegment: segments[segments.length - 1].baseOffset, nextOffset: baseOffset + 1 }
      ongoing ??= new Map(ctx.txns?.ongoing)
      ongoing.delete(header.producerId)
      if (isAbortMarker(bytes)) {
        aborted.push({ producerId: header.producerId, firstOffset: open.firstOffset, lastOffset: baseOffset })
        lastAborted = baseOffset
      }
      producers.set(header.producerId, producer && producer.epoch === header.producerEpoch
        ? { ...producer, lastTimestamp: now }
        : { producerId: header.producerId, epoch: header.producerEpoch, batches: [], lastTimestamp: now })
      batches.push({ baseOffset, lastOffset: baseOffset, maxTimestamp: header.maxTimestamp, bytes })
      bytesAppended += bytes.byteLength
      results.push({ baseOffset, logAppendTime: -1, duplicate: false })
      continue
    }
    // The log writes offsets into the bytes in place and the store copies them only at commit:
    // bytes seen twice in one group (the same array appended twice) must not share one region.
    const bytes = claimed.claim(item.bytes) ? item.bytes : item.bytes.slice()
    let producer: ProducerEntry | undefined
    if (header.producerId >= 0) {
      producer = producers.get(header.producerId) ?? await ctx.producerEntry(header.producerId)
      try {
        const check = checkSequence(producer, header.producerEpoch, header.baseSequence, lastSequence(header.baseSequence, header.recordCount), header.crc)
        if (check.kind === 'duplicate') {
          results.push({ baseOffset: check.baseOffset, logAppendTime: -1, duplicate: true })
          continue
        }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        results.push(error)
        continue
      }
    }
    const baseOffset = head.nextOffset
    const lastOffset = baseOffset + header.lastOffsetDelta
    // The log takes the bytes over and writes the offset in place; adapters copy what they keep.
    setBaseOffset(bytes, baseOffset)
    const logAppendTime = config['message.timestamp.type'] === 'LogAppendTime' ? now : -1
    const maxTimestamp = logAppendTime >= 0 ? stampLogAppendTime(bytes, now) : header.maxTimestamp

    touchedSegments.add(addToActiveSegment(segments, { baseOffset, lastOffset, maxTimestamp, size: bytes.byteLength }, config, now))
    head = { ...head, activeSegment: segments[segments.length - 1].baseOffset, nextOffset: lastOffset + 1 }
    if (header.isTransactional && !openTxn(header.producerId)) {
      // The producer's first batch of a transaction here: the LSO cannot pass it until its marker.
      ongoing ??= new Map(ctx.txns?.ongoing)
      ongoing.set(header.producerId, { producerId: header.producerId, producerEpoch: header.producerEpoch, firstOffset: baseOffset })
    }
    if (header.producerId >= 0) {
      const lastSeq = lastSequence(header.baseSequence, header.recordCount)
      producers.set(header.producerId, recordBatch(producer, header.producerId, header.producerEpoch, { firstSeq: header.baseSequence, lastSeq, baseOffset, crc: header.crc }, now))
    }
    batches.push({ baseOffset, lastOffset, maxTimestamp, bytes })
    bytesAppended += bytes.byteLength
    results.push({ baseOffset, logAppendTime, duplicate: false })
  }
  const meta: AppendPlan['meta'] = [{ key: keys.head(stream), value: head }]
  for (const i of touchedSegments) meta.push({ key: keys.segment(stream, segments[i].baseOffset), value: segments[i] })
  for (const [producerId, entry] of producers) meta.push({ key: keys.producer(stream, producerId), value: entry })
  let txn: AppendPlan['txn']
  if (ongoing) {
    txn = { record: { ongoing: [...ongoing.values()], lastAborted }, aborted }
    meta.push({ key: txnKeys.partition(stream), value: txn.record })
    for (const t of aborted) meta.push({ key: txnKeys.aborted(stream, t.lastOffset), value: t })
  }
  return { results, batches, meta, head, segments, producers, bytes: bytesAppended, txn }
}

/** The control record's type (key bytes 2..3: 0 abort) of a marker batch this log built (uncompressed). */
function isAbortMarker(bytes: Uint8Array): boolean {
  return readControlRecord(decodeRecords(bytes)[0])?.type === 'abort'
}

/** Byte regions already taken by batches of this plan, per underlying buffer. */
class ClaimedRegions {
  private readonly byBuffer = new Map<ArrayBufferLike, Array<[number, number]>>()

  /** True if `bytes` overlaps nothing claimed before (and claims it). */
  claim(bytes: Uint8Array): boolean {
    const start = bytes.byteOffset
    const end = start + bytes.byteLength
    const regions = this.byBuffer.get(bytes.buffer) ?? []
    if (regions.some(([s, e]) => start < e && s < end)) return false
    regions.push([start, end])
    this.byBuffer.set(bytes.buffer, regions)
    return true
  }
}

export function newSegment(baseOffset: number, now: number): SegmentInfo {
  return { baseOffset, endOffset: baseOffset, sizeBytes: 0, batches: 0, createdAt: now, maxTimestamp: -1 }
}

/**
 * Puts a batch in the active segment, rolling a new one first when the active one is full or
 * old (segment.bytes, segment.ms). Changes `segments` in place; answers the index written.
 */
export function addToActiveSegment(
  segments: SegmentInfo[], batch: { baseOffset: number; lastOffset: number; maxTimestamp: number; size: number }, config: TopicConfig, now: number,
): number {
  let active = segments[segments.length - 1]
  if (!active || shouldRoll(active, batch.size, config, now)) {
    active = newSegment(batch.baseOffset, now)
    segments.push(active)
  }
  segments[segments.length - 1] = {
    ...active,
    endOffset: batch.lastOffset + 1,
    sizeBytes: active.sizeBytes + batch.size,
    batches: active.batches + 1,
    maxTimestamp: Math.max(active.maxTimestamp, batch.maxTimestamp),
  }
  return segments.length - 1
}

export function shouldRoll(active: SegmentInfo, incoming: number, config: TopicConfig, now: number): boolean {
  if (active.batches === 0) return false
  return active.sizeBytes + incoming > config['segment.bytes'] || now - active.createdAt >= config['segment.ms']
}

/** Sets the LogAppendTime attribute and maxTimestamp, and recomputes the CRC (which covers both). */
function stampLogAppendTime(bytes: Uint8Array, now: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  view.setInt16(21, view.getInt16(21) | 0x08)
  view.setUint32(35, Math.floor(now / 0x1_0000_0000))
  view.setUint32(39, now >>> 0)
  view.setUint32(17, crc32c(bytes, 21, bytes.byteLength))
  return now
}

