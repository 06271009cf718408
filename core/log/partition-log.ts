/**
 * One partition's log: its single writer. Assigns offsets, checks idempotent sequences,
 * rolls segments, serves reads by offset and time, and runs retention and compaction.
 * Every change is one atomic `storage.commit` (batch + head + segment + producer state).
 */
import { EdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { PartitionState, SegmentInfo } from '../broker.ts'
import type { StorageAdapter, StoredBatch, StreamId } from '../storage.ts'
import { decodeBatch, readBatchHeader, setBaseOffset, validateBatch, type BatchHeader } from '../codec/record-batch.ts'
import { wasEncodedInProcess } from '../codec/trusted.ts'
import { crc32c } from '../codec/crc32c.ts'
import { keys } from './keys.ts'
import { checkSequence, lastSequence, recordBatch, type ProducerEntry } from './producer-state.ts'
import { selectExpiredSegments } from './retention.ts'
import { compactSegments } from './compaction.ts'
import { OffsetWaiters } from './waiters.ts'

export interface PartitionHead {
  logStartOffset: number
  nextOffset: number
  /** Base offset of the active (last) segment. */
  activeSegment: number
  /** Offset up to which compaction has cleaned (the cleaner's checkpoint). */
  cleanedTo: number
}

export interface AppendResult { baseOffset: number; logAppendTime: number; duplicate: boolean }

export interface ReadResult { batches: StoredBatch[]; highWatermark: number; logStartOffset: number }

export interface PartitionLogOptions {
  storage: StorageAdapter
  stream: StreamId
  config: () => TopicConfig
  now?: () => number
}

export class PartitionLog {
  readonly stream: StreamId
  private readonly storage: StorageAdapter
  private readonly config: () => TopicConfig
  private readonly now: () => number
  private head: PartitionHead = { logStartOffset: 0, nextOffset: 0, activeSegment: 0, cleanedTo: 0 }
  /** Segments oldest first; the last is the active one. Small: one entry per segment. */
  private segments: SegmentInfo[] = []
  private readonly producers = new Map<number, ProducerEntry | undefined>()
  private writeQueue: Promise<unknown> = Promise.resolve()
  private readonly waiters = new OffsetWaiters()
  private closed = false

  private constructor(options: PartitionLogOptions) {
    this.storage = options.storage
    this.stream = options.stream
    this.config = options.config
    this.now = options.now ?? Date.now
  }

  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options)
    await log.reload(true)
    return log
  }

  get highWatermark(): number { return this.head.nextOffset }
  get logStartOffset(): number { return this.head.logStartOffset }

  /** Appends one producer batch; resolves once it is committed to storage. */
  async append(bytes: Uint8Array, options: { durability?: 'strict' | 'relaxed' } = {}): Promise<AppendResult> {
    const config = this.config()
    if (bytes.byteLength > config['max.message.bytes']) {
      throw new EdgelogError('MESSAGE_TOO_LARGE', `Batch of ${bytes.byteLength} bytes is over max.message.bytes (${config['max.message.bytes']})`)
    }
    const maxValue = this.storage.capabilities.maxValueBytes
    if (maxValue !== undefined && bytes.byteLength > maxValue) {
      throw new EdgelogError('MESSAGE_TOO_LARGE', `Batch of ${bytes.byteLength} bytes is over this store's limit of ${maxValue} bytes per batch`)
    }
    // Validation runs in the partition's queue: batches are checked and stored in arrival order.
    return this.exclusive(async () => {
      const header = wasEncodedInProcess(bytes) ? readBatchHeader(bytes) : await validateBatch(bytes)
      if (header.isControl || header.isTransactional) {
        throw new EdgelogError('INVALID_RECORD', 'Transactional and control batches are not supported')
      }
      if (header.lastOffsetDelta !== header.recordCount - 1) {
        throw new EdgelogError('INVALID_RECORD', `A produced batch must have contiguous offset deltas 0..${header.recordCount - 1}`)
      }
      if (config['cleanup.policy'].includes('compact')) await requireKeys(bytes)
      return this.appendValidated(bytes, header, config, options.durability ?? 'relaxed')
    })
  }

  private async appendValidated(
    input: Uint8Array, header: BatchHeader, config: TopicConfig, durability: 'strict' | 'relaxed',
  ): Promise<AppendResult> {
    const now = this.now()
    const idempotent = header.producerId >= 0
    let producer: ProducerEntry | undefined
    if (idempotent) {
      producer = await this.producerEntry(header.producerId)
      const lastSeq = lastSequence(header.baseSequence, header.recordCount)
      const check = checkSequence(producer, header.producerEpoch, header.baseSequence, lastSeq)
      if (check.kind === 'duplicate') return { baseOffset: check.baseOffset, logAppendTime: -1, duplicate: true }
    }
    const baseOffset = this.head.nextOffset
    const lastOffset = baseOffset + header.lastOffsetDelta
    // The log takes the bytes over and writes the offset in place; adapters copy what they keep.
    const bytes = input
    setBaseOffset(bytes, baseOffset)
    let maxTimestamp = header.maxTimestamp
    const logAppendTime = config['message.timestamp.type'] === 'LogAppendTime' ? now : -1
    if (logAppendTime >= 0) maxTimestamp = stampLogAppendTime(bytes, now)

    const meta: Array<{ key: string; value: unknown }> = []
    let active = this.segments[this.segments.length - 1]
    if (!active || this.shouldRoll(active, bytes.byteLength, config, now)) {
      active = newSegment(baseOffset, now)
      this.head = { ...this.head, activeSegment: baseOffset }
      this.segments = [...this.segments, active]
    }
    const segment: SegmentInfo = {
      ...active,
      endOffset: lastOffset + 1,
      sizeBytes: active.sizeBytes + bytes.byteLength,
      batches: active.batches + 1,
      maxTimestamp: Math.max(active.maxTimestamp, maxTimestamp),
    }
    const head: PartitionHead = { ...this.head, nextOffset: lastOffset + 1 }
    meta.push({ key: keys.head(this.stream), value: head }, { key: keys.segment(this.stream, segment.baseOffset), value: segment })
    let nextProducer: ProducerEntry | undefined
    if (idempotent) {
      const lastSeq = lastSequence(header.baseSequence, header.recordCount)
      nextProducer = recordBatch(producer, header.producerId, header.producerEpoch, { firstSeq: header.baseSequence, lastSeq, baseOffset }, now)
      meta.push({ key: keys.producer(this.stream, header.producerId), value: nextProducer })
    }
    const batch: StoredBatch = { baseOffset, lastOffset, maxTimestamp, bytes }
    try {
      await this.storage.commit({ batches: [{ stream: this.stream, batch }], meta, durability })
    } catch (error) {
      // Nothing was stored: forget the rolled segment too, by reloading what storage holds.
      await this.reload(true)
      throw error
    }
    this.head = head
    this.segments[this.segments.length - 1] = segment
    if (idempotent) this.producers.set(header.producerId, nextProducer)
    this.waiters.notify(head.nextOffset, bytes.byteLength)
    return { baseOffset, logAppendTime, duplicate: false }
  }

  private shouldRoll(active: SegmentInfo, incoming: number, config: TopicConfig, now: number): boolean {
    if (active.batches === 0) return false
    return active.sizeBytes + incoming > config['segment.bytes'] || now - active.createdAt >= config['segment.ms']
  }

  /** Batches from `offset` up to about `maxBytes` (the first batch always), below the high watermark. */
  async read(offset: number, maxBytes: number): Promise<ReadResult> {
    this.assertOpen()
    const { logStartOffset, nextOffset } = this.head
    if (offset < logStartOffset || offset > nextOffset) {
      throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside [${logStartOffset}, ${nextOffset}] of ${this.stream}`)
    }
    const batches = offset === nextOffset
      ? []
      : await this.storage.readBatches(this.stream, offset, { maxBytes, toOffset: nextOffset })
    return { batches, highWatermark: nextOffset, logStartOffset }
  }

  /** Resolves when records past `offset` exist (about `minBytes` of them) or after `maxWaitMs`. */
  waitForData(offset: number, maxWaitMs: number, minBytes = 1, signal?: AbortSignal): Promise<void> {
    if (offset < this.head.nextOffset && minBytes <= 1) return Promise.resolve()
    return this.waiters.wait(offset, maxWaitMs, minBytes, signal)
  }

  /** Kafka's ListOffsets: earliest, latest, or the first offset whose timestamp is at or after `timestamp`. */
  async offsetForTime(spec: 'earliest' | 'latest' | { timestamp: number }): Promise<{ offset: number; timestamp: number }> {
    if (spec === 'earliest') return { offset: this.head.logStartOffset, timestamp: -1 }
    if (spec === 'latest') return { offset: this.head.nextOffset, timestamp: -1 }
    const target = spec.timestamp
    for (const segment of this.segments) {
      if (segment.maxTimestamp < target || segment.batches === 0) continue
      let from = Math.max(segment.baseOffset, this.head.logStartOffset)
      while (from < segment.endOffset) {
        const batches = await this.storage.readBatches(this.stream, from, { maxBytes: 1 << 20, toOffset: segment.endOffset })
        if (batches.length === 0) break
        for (const batch of batches) {
          if (batch.maxTimestamp < target) continue
          const { records } = await decodeBatch(batch.bytes)
          const hit = records.find((r) => r.timestamp >= target && r.offset >= this.head.logStartOffset)
          if (hit) return { offset: hit.offset, timestamp: hit.timestamp }
        }
        from = batches[batches.length - 1].lastOffset + 1
      }
    }
    return { offset: -1, timestamp: -1 }
  }

  /** Retention (cleanup.policy delete) and compaction (cleanup.policy compact). */
  async maintain(options: { forceCompaction?: boolean } = {}): Promise<{ deletedSegments: number; compactedSegments: number }> {
    return this.exclusive(async () => {
      const config = this.config()
      const now = this.now()
      let deletedSegments = 0
      let compactedSegments = 0
      if (config['cleanup.policy'].includes('delete')) deletedSegments = await this.applyRetention(config, now)
      if (config['cleanup.policy'].includes('compact')) {
        compactedSegments = await this.applyCompaction(config, now, options.forceCompaction ?? false)
      }
      return { deletedSegments, compactedSegments }
    })
  }

  private async applyRetention(config: TopicConfig, now: number): Promise<number> {
    let active = this.segments[this.segments.length - 1]
    // An expired active segment is rolled first so that it can go too (as Kafka does).
    if (active && active.batches > 0 && config['retention.ms'] >= 0 && now - active.maxTimestamp > config['retention.ms']) {
      const rolled = newSegment(this.head.nextOffset, now)
      this.segments = [...this.segments, rolled]
      this.head = { ...this.head, activeSegment: rolled.baseOffset }
      active = rolled
      await this.storage.commit({ meta: [{ key: keys.head(this.stream), value: this.head }, { key: keys.segment(this.stream, rolled.baseOffset), value: rolled }] })
    }
    const expired = selectExpiredSegments(this.segments, config, now)
    if (expired.length === 0) return 0
    const remaining = this.segments.slice(expired.length)
    const logStartOffset = Math.max(this.head.logStartOffset, remaining[0]?.baseOffset ?? this.head.nextOffset)
    const head: PartitionHead = { ...this.head, logStartOffset, cleanedTo: Math.max(this.head.cleanedTo, logStartOffset) }
    await this.storage.commit({
      deleteRanges: [{ stream: this.stream, fromOffset: expired[0].baseOffset, toOffset: expired[expired.length - 1].endOffset }],
      meta: [
        ...expired.map((s) => ({ key: keys.segment(this.stream, s.baseOffset), value: undefined })),
        { key: keys.head(this.stream), value: head },
      ],
    })
    this.segments = remaining
    this.head = head
    return expired.length
  }

  private async applyCompaction(config: TopicConfig, now: number, force: boolean): Promise<number> {
    const result = await compactSegments({
      storage: this.storage, stream: this.stream, segments: this.segments, head: this.head, config, now, force,
    })
    if (!result) return 0
    this.segments = result.segments
    this.head = result.head
    return result.compacted
  }

  state(): PartitionState & { stream: StreamId } {
    return {
      stream: this.stream,
      partition: Number(this.stream.slice(this.stream.lastIndexOf('/') + 1)),
      logStartOffset: this.head.logStartOffset,
      highWatermark: this.head.nextOffset,
      sizeBytes: this.segments.reduce((sum, s) => sum + s.sizeBytes, 0),
      segments: this.segments.map((s) => ({ ...s })),
    }
  }

  /** Another context appended (shared stores): move the high watermark and wake readers. */
  observeAppend(nextOffset: number): void {
    if (nextOffset > this.head.nextOffset) {
      this.head = { ...this.head, nextOffset }
      this.waiters.notify(nextOffset, 0)
    }
  }

  close(): void {
    this.closed = true
    this.waiters.cancelAll()
  }

  private assertOpen(): void {
    if (this.closed) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Partition ${this.stream} is closed or deleted`)
  }

  /** Serialises writers: in process by a queue; across contexts sharing the store by its lock. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen()
    const run = this.storage.capabilities.shared && this.storage.lock
      ? () => this.storage.lock!(this.stream, async () => { await this.reload(false); return fn() })
      : fn
    const result = this.writeQueue.then(run, run)
    this.writeQueue = result.catch(() => undefined)
    return result
  }

  /** Reads head and segments from storage: at open, after a failed commit, and under a shared lock. */
  private async reload(full: boolean): Promise<void> {
    const head = await this.storage.getMeta<PartitionHead>(keys.head(this.stream))
    const previous = this.head
    this.head = head ?? { logStartOffset: 0, nextOffset: 0, activeSegment: 0, cleanedTo: 0 }
    if (full || !head || head.activeSegment !== previous.activeSegment || head.logStartOffset !== previous.logStartOffset) {
      const entries = await this.storage.listMeta<SegmentInfo>(keys.segmentPrefix(this.stream))
      this.segments = entries.map((e) => e.value)
    } else {
      const active = await this.storage.getMeta<SegmentInfo>(keys.segment(this.stream, head.activeSegment))
      if (active) this.segments[this.segments.length - 1] = active
    }
    if (this.storage.capabilities.shared || full) this.producers.clear()
    if (this.head.nextOffset > previous.nextOffset) this.waiters.notify(this.head.nextOffset, 0)
  }

  private async producerEntry(producerId: number): Promise<ProducerEntry | undefined> {
    if (this.producers.has(producerId)) return this.producers.get(producerId)
    const entry = await this.storage.getMeta<ProducerEntry>(keys.producer(this.stream, producerId))
    this.producers.set(producerId, entry)
    return entry
  }
}

function newSegment(baseOffset: number, now: number): SegmentInfo {
  return { baseOffset, endOffset: baseOffset, sizeBytes: 0, batches: 0, createdAt: now, maxTimestamp: -1 }
}

/** Compacted topics need a key on every record (Kafka rejects keyless records there). */
async function requireKeys(bytes: Uint8Array): Promise<void> {
  const { records } = await decodeBatch(bytes)
  if (records.some((r) => r.key === null)) {
    throw new EdgelogError('INVALID_RECORD', 'Compacted topic cannot accept a record without a key')
  }
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
