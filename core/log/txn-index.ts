/**
 * A partition's transactions, as Kafka's ProducerStateManager and transaction index keep them:
 *   - the ongoing ones: per producer, the offset of its transaction's first batch here. The
 *     last stable offset (LSO) is the smallest of them, else the high watermark; a
 *     read_committed fetch stops there.
 *   - the aborted ones (Kafka's .txnindex): producer id, first offset, last offset (the abort
 *     marker's), kept in metadata one key per transaction, sorted by last offset; a
 *     read_committed fetch is answered those overlapping its range, found by binary search
 *     (the cost follows the aborted transactions in the range, not the log's length).
 * Stored: `txnp/<stream>` (the ongoing ones and the last abort marker's offset, written in the
 * same commit as the batch that changes them) and `abrt/<stream>/<lastOffset>`.
 */
import { padOffset, type StorageAdapter, type StreamId } from '../storage.ts'

export interface OngoingTxn { producerId: number; producerEpoch: number; firstOffset: number }
export interface AbortedTxn { producerId: number; firstOffset: number; lastOffset: number }
/** What `txnp/<stream>` holds. */
export interface PartitionTxnRecord { ongoing: OngoingTxn[]; lastAborted: number }

export const txnKeys = {
  partition: (stream: StreamId) => `txnp/${stream}`,
  aborted: (stream: StreamId, lastOffset: number) => `abrt/${stream}/${padOffset(lastOffset)}`,
  abortedPrefix: (stream: StreamId) => `abrt/${stream}/`,
}

export class PartitionTxns {
  /** Ongoing transactions by producer id. */
  ongoing = new Map<number, OngoingTxn>()
  /** Aborted transactions, by last offset (markers are appended in offset order). */
  aborted: AbortedTxn[] = []
  /** The longest aborted transaction (last - first offset): how far past a range one can start before it. */
  private maxSpan = 0
  /** The `txnp` record as stored (undefined: none), to know when to read the index again. */
  private stored: PartitionTxnRecord | undefined

  constructor(private readonly stream: StreamId) {}

  /** Reads the stored state; the aborted index only when it changed since the last read. */
  async load(storage: StorageAdapter): Promise<void> {
    const record = await storage.getMeta<PartitionTxnRecord>(txnKeys.partition(this.stream))
    const relist = record?.lastAborted !== this.stored?.lastAborted || (record === undefined) !== (this.stored === undefined)
    const aborted = relist ? (await storage.listMeta<AbortedTxn>(txnKeys.abortedPrefix(this.stream))).map((e) => e.value) : this.aborted
    this.stored = record
    this.ongoing = new Map((record?.ongoing ?? []).map((t) => [t.producerId, t]))
    this.setAborted(aborted)
  }

  private setAborted(aborted: AbortedTxn[]): void {
    this.aborted = aborted
    this.maxSpan = 0
    for (const t of aborted) this.maxSpan = Math.max(this.maxSpan, t.lastOffset - t.firstOffset)
  }

  /** The first offset a read_committed reader may not see yet. */
  lastStableOffset(highWatermark: number, logStartOffset: number): number {
    let lso = highWatermark
    for (const t of this.ongoing.values()) if (t.firstOffset < lso) lso = t.firstOffset
    return Math.max(lso, logStartOffset)
  }

  /** Aborted transactions overlapping [from, to): last offset ≥ from and first offset < to, by first offset. */
  abortedIn(from: number, to: number): AbortedTxn[] {
    const list = this.aborted
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (list[mid].lastOffset < from) lo = mid + 1
      else hi = mid
    }
    const out: AbortedTxn[] = []
    // Past `to + maxSpan` no transaction can have started before `to`.
    for (let i = lo; i < list.length && list[i].lastOffset - this.maxSpan < to; i++) {
      if (list[i].firstOffset < to) out.push(list[i])
    }
    return out.sort((a, b) => a.firstOffset - b.firstOffset)
  }

  /** The stored form of a new ongoing set (and last abort marker). */
  record(ongoing: ReadonlyMap<number, OngoingTxn>, lastAborted: number): PartitionTxnRecord {
    return { ongoing: [...ongoing.values()], lastAborted }
  }

  get lastAborted(): number {
    return this.stored?.lastAborted ?? -1
  }

  /** After a commit that wrote `record` and added `aborted`. */
  adopt(record: PartitionTxnRecord, aborted: AbortedTxn[]): void {
    this.stored = record
    this.ongoing = new Map(record.ongoing.map((t) => [t.producerId, t]))
    if (aborted.length > 0) this.setAborted([...this.aborted, ...aborted])
  }

  /**
   * The metadata changes that drop what fell below the log start (retention, DeleteRecords):
   * aborted transactions wholly below it, and ongoing ones whose first offset it passed (their
   * first offset moves up to the log start, so the LSO never points below the log).
   */
  prune(logStartOffset: number): { meta: Array<{ key: string; value: unknown }>; apply: () => void } {
    const gone = this.aborted.filter((t) => t.lastOffset < logStartOffset)
    const moved = [...this.ongoing.values()].some((t) => t.firstOffset < logStartOffset)
    const meta: Array<{ key: string; value: unknown }> = gone.map((t) => ({ key: txnKeys.aborted(this.stream, t.lastOffset), value: undefined }))
    let record: PartitionTxnRecord | undefined
    if (moved) {
      const ongoing = new Map([...this.ongoing].map(([id, t]) => [id, { ...t, firstOffset: Math.max(t.firstOffset, logStartOffset) }]))
      record = this.record(ongoing, this.lastAborted)
      meta.push({ key: txnKeys.partition(this.stream), value: record })
    }
    return {
      meta,
      apply: () => {
        if (gone.length > 0) this.setAborted(this.aborted.filter((t) => t.lastOffset >= logStartOffset))
        if (record) this.adopt(record, [])
      },
    }
  }

  /**
   * The metadata changes for a truncation at `offset` (replication, KIP-101): every batch at or
   * past it goes, so do the aborted transactions whose marker was there and the ongoing ones
   * that started there (Kafka truncates its producer state and .txnindex the same way).
   */
  truncate(offset: number): { meta: Array<{ key: string; value: unknown }>; apply: () => void } {
    const gone = this.aborted.filter((t) => t.lastOffset >= offset)
    const ongoing = new Map([...this.ongoing].filter(([, t]) => t.firstOffset < offset))
    if (gone.length === 0 && ongoing.size === this.ongoing.size) return { meta: [], apply: () => {} }
    const kept = this.aborted.filter((t) => t.lastOffset < offset)
    const record = this.record(ongoing, kept.length > 0 ? kept[kept.length - 1].lastOffset : -1)
    const meta: Array<{ key: string; value: unknown }> = gone.map((t) => ({ key: txnKeys.aborted(this.stream, t.lastOffset), value: undefined }))
    meta.push({ key: txnKeys.partition(this.stream), value: record })
    return { meta, apply: () => { this.setAborted(kept); this.adopt(record, []) } }
  }

  /** Whether the record at `offset` of `producerId`'s transactional batch belongs to an aborted transaction. */
  isAborted(producerId: number, offset: number): boolean {
    for (const t of this.abortedIn(offset, offset + 1)) if (t.producerId === producerId) return true
    return false
  }
}
