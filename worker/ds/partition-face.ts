/**
 * A Durable Streams stream inside its partition object: the stream's metadata (content type,
 * TTL / expiry, closure, Stream-Seq, idempotent producers, forks) beside the partition's log,
 * in the same SQLite storage, and every write decided here, in the partition's single writer.
 *
 * A stream is partition 0 of its topic; each record is one piece of the stream: a binary
 * append is one record (or several, 1 MiB each, for a larger body), a JSON append one record
 * per message (a top-level array flattened). One append is one Kafka record batch, committed
 * with the stream's new metadata (producer state, closure) in the same transaction
 * (`PartitionLog.append(bytes, { meta })`), so a crash never keeps one without the other.
 */
import { decodeRecords, encodeBatch, type RecordInput } from '../../core/codec/record-batch.ts'
import { EdgelogError } from '../../core/errors.ts'
import type { PartitionLog } from '../../core/log/partition-log.ts'
import type { StorageAdapter } from '../../core/storage.ts'
import { mediaType } from './protocol.ts'

export const DS_META_KEY = 'ds/stream'
/** Records of one batch add up to at most this many value bytes. */
export const DS_BATCH_BYTES = 1024 * 1024

export interface DsForkOrigin { from: string; offset: number; subOffset: number }

/** What a PUT sets, and compares for an idempotent PUT. */
export interface DsStreamConfig {
  path: string
  contentType: string
  ttlSeconds?: number
  /** Absolute expiry, as given (RFC 3339) and in ms. */
  expiresAt?: string
  expiresAtMs?: number
  closed: boolean
  fork?: DsForkOrigin
}

export interface DsProducerState { epoch: number; seq: number }

export interface DsStreamMeta extends DsStreamConfig {
  createdAt: number
  /** Last read or write (the TTL's sliding window starts here). */
  touchedAt: number
  /** Last Stream-Seq accepted (writer coordination, compared as strings). */
  streamSeq?: string
  producers: Record<string, DsProducerState>
  /** The producer request that closed the stream (its retry is a duplicate). */
  closedBy?: { id: string; epoch: number; seq: number }
  /** Forks created from this stream and not deleted (reference count). */
  forks: number
  /** Deleted while forks referenced it: 410 to everyone until the last fork goes. */
  softDeleted?: boolean
}

export interface DsProducer { id: string; epoch: number; seq: number }

export type DsOp =
  | { op: 'create'; config: DsStreamConfig; groups?: Uint8Array[][]; now: number }
  | { op: 'append'; contentType?: string; messages: Uint8Array[]; close: boolean; seq?: string; producer?: DsProducer; now: number }
  | { op: 'read'; from: number | 'start' | 'now'; waitMs: number; maxBytes: number; touch: boolean; now: number }
  | { op: 'head'; now: number }
  | { op: 'delete'; now: number }
  | { op: 'unref' }
  | { op: 'fork'; offset?: number; subOffset: number; contentType?: string; now: number }

export interface DsState {
  /** When the stream was created: ETags include it, so a stream created again never matches the old one's. */
  epoch: number
  contentType: string
  tail: number
  closed: boolean
  ttlSeconds?: number
  expiresAt?: string
}

export type DsAnswer =
  | { status: 'missing' }
  | { status: 'expired'; forks: number }
  | { status: 'gone' }
  | { status: 'created' | 'exists' | 'conflict' | 'unborn'; state?: DsState }
  | { status: 'appended'; state: DsState; producer?: DsProducer }
  | { status: 'duplicate'; state: DsState; epoch: number; lastSeq: number }
  | { status: 'closed'; state: DsState }
  | { status: 'type-mismatch' | 'seq-conflict' | 'epoch-seq' | 'bad-offset' | 'bad-sub-offset' | 'offset-gone' }
  | { status: 'stale-epoch'; epoch: number }
  | { status: 'seq-gap'; expected: number; received: number }
  | { status: 'data'; state: DsState; values: Uint8Array[]; from: number; next: number; upToDate: boolean; timedOut: boolean }
  | { status: 'head'; state: DsState }
  | { status: 'soft-deleted' | 'delete'; source?: string }
  | { status: 'unref'; gc: boolean; source?: string }
  | { status: 'snapshot'; groups: Uint8Array[][]; next: number; config: DsStreamConfig }

/** One stream's face in its partition object. */
export class DsPartition {
  private meta: DsStreamMeta | undefined
  private loaded = false
  private chain: Promise<unknown> = Promise.resolve()
  /** Readers parked at the tail, woken when the stream closes (appends wake them through the log). */
  private closeWaiters = new Set<() => void>()

  constructor(private readonly storage: StorageAdapter) {}

  handle(log: PartitionLog, op: DsOp): Promise<DsAnswer> {
    if (op.op === 'read') return this.read(log, op)
    // Writes, and everything that reads the metadata to change it, one at a time (the
    // protocol's "serialize validation + append per (stream, producer)", and more).
    const run = this.chain.then(() => this.write(log, op))
    this.chain = run.catch(() => {})
    return run
  }

  /** Nothing more can come to a reader waiting at the tail: no stream, deleted, expired or closed (worker/ds/wait.ts). */
  async settled(now: number): Promise<boolean> {
    const meta = await this.load()
    return !meta || meta.closed || meta.softDeleted === true || expired(meta, now)
  }

  private async load(): Promise<DsStreamMeta | undefined> {
    if (!this.loaded) {
      this.meta = await this.storage.getMeta<DsStreamMeta>(DS_META_KEY)
      this.loaded = true
    }
    return this.meta
  }

  private async save(meta: DsStreamMeta): Promise<void> {
    await this.storage.commit({ meta: [{ key: DS_META_KEY, value: meta }] })
    this.meta = meta
  }

  private async write(log: PartitionLog, op: Exclude<DsOp, { op: 'read' }>): Promise<DsAnswer> {
    const meta = await this.load()
    if (op.op === 'create') return this.create(log, meta, op)
    if (!meta) return { status: 'missing' }
    if (op.op === 'unref') {
      const next = { ...meta, forks: Math.max(0, meta.forks - 1) }
      await this.save(next)
      return { status: 'unref', gc: next.softDeleted === true && next.forks === 0, source: next.fork?.from }
    }
    if (meta.softDeleted) return { status: 'gone' }
    if (expired(meta, op.now)) return { status: 'expired', forks: meta.forks }
    switch (op.op) {
      case 'head': return { status: 'head', state: stateOf(meta, log) }
      case 'delete': {
        if (meta.forks > 0) {
          await this.save({ ...meta, softDeleted: true })
          this.wakeClosed()
          return { status: 'soft-deleted' }
        }
        return { status: 'delete', source: meta.fork?.from }
      }
      case 'append': return this.append(log, meta, op)
      case 'fork': return this.fork(log, meta, op)
    }
  }

  private async create(log: PartitionLog, meta: DsStreamMeta | undefined, op: Extract<DsOp, { op: 'create' }>): Promise<DsAnswer> {
    if (meta) {
      if (meta.softDeleted) return { status: 'conflict' }
      if (expired(meta, op.now)) return { status: 'expired', forks: meta.forks }
      return { status: sameConfig(meta, op.config) ? 'exists' : 'conflict', state: stateOf(meta, log) }
    }
    if (op.groups === undefined) return { status: 'unborn' }
    const next: DsStreamMeta = { ...op.config, createdAt: op.now, touchedAt: op.now, producers: {}, forks: 0 }
    await this.appendGroups(log, op.groups, next, op.now)
    return { status: 'created', state: stateOf(next, log) }
  }

  private async append(log: PartitionLog, meta: DsStreamMeta, op: Extract<DsOp, { op: 'append' }>): Promise<DsAnswer> {
    const p = op.producer
    if (meta.closed) {
      const by = meta.closedBy
      if (p && by && by.id === p.id && by.epoch === p.epoch && by.seq === p.seq) {
        return { status: 'duplicate', state: stateOf(meta, log), epoch: p.epoch, lastSeq: p.seq }
      }
      return { status: 'closed', state: stateOf(meta, log) }
    }
    if (op.messages.length > 0 && op.contentType !== undefined && mediaType(op.contentType) !== mediaType(meta.contentType)) {
      return { status: 'type-mismatch' }
    }
    let producers = meta.producers
    if (p) {
      const known = meta.producers[p.id]
      if (!known) {
        if (p.seq !== 0) return { status: 'seq-gap', expected: 0, received: p.seq }
      } else if (p.epoch < known.epoch) {
        return { status: 'stale-epoch', epoch: known.epoch }
      } else if (p.epoch > known.epoch) {
        if (p.seq !== 0) return { status: 'epoch-seq' }
      } else if (p.seq <= known.seq) {
        return { status: 'duplicate', state: stateOf(meta, log), epoch: p.epoch, lastSeq: known.seq }
      } else if (p.seq !== known.seq + 1) {
        return { status: 'seq-gap', expected: known.seq + 1, received: p.seq }
      }
      producers = { ...meta.producers, [p.id]: { epoch: p.epoch, seq: p.seq } }
    }
    if (op.seq !== undefined && meta.streamSeq !== undefined && op.seq <= meta.streamSeq) return { status: 'seq-conflict' }
    const next: DsStreamMeta = {
      ...meta, producers, touchedAt: op.now,
      streamSeq: op.seq ?? meta.streamSeq,
      closed: meta.closed || op.close,
      closedBy: op.close && p ? { id: p.id, epoch: p.epoch, seq: p.seq } : meta.closedBy,
    }
    await this.appendGroups(log, op.messages.length > 0 ? [op.messages] : [], next, op.now)
    if (next.closed) this.wakeClosed()
    return { status: 'appended', state: stateOf(next, log), producer: p }
  }

  /**
   * Each group (one append) as record batches of at most DS_BATCH_BYTES of values, handed to
   * the log together (one commit), the stream's metadata with the last of them.
   */
  private async appendGroups(log: PartitionLog, groups: Uint8Array[][], next: DsStreamMeta, now: number): Promise<void> {
    const batches: Uint8Array[] = []
    for (const group of groups) {
      let records: RecordInput[] = []
      let size = 0
      for (const value of group) {
        if (records.length > 0 && size + value.byteLength > DS_BATCH_BYTES) {
          batches.push(encodeBatch(records))
          records = []
          size = 0
        }
        records.push({ key: null, value, timestamp: now })
        size += value.byteLength
      }
      if (records.length > 0) batches.push(encodeBatch(records))
    }
    if (batches.length === 0) {
      await this.save(next)
      return
    }
    const metaEntry = [{ key: DS_META_KEY, value: next }]
    const results = await Promise.allSettled(batches.map((b, i) => log.append(b, { durability: 'relaxed', meta: i === batches.length - 1 ? metaEntry : undefined })))
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) {
      // Part of a large append may be stored: the metadata was not, so reload it next time.
      this.loaded = false
      throw failed.reason
    }
    this.meta = next
  }

  private async read(log: PartitionLog, op: Extract<DsOp, { op: 'read' }>): Promise<DsAnswer> {
    let meta = await this.load()
    if (!meta) return { status: 'missing' }
    if (meta.softDeleted) return { status: 'gone' }
    if (expired(meta, op.now)) return { status: 'expired', forks: meta.forks }
    if (op.touch && meta.ttlSeconds !== undefined) {
      // The TTL's sliding window, saved in the writers' queue so it never overwrites a write.
      const run = this.chain.then(async () => {
        const current = await this.load()
        if (current) await this.save({ ...current, touchedAt: Math.max(current.touchedAt, op.now) })
      })
      this.chain = run.catch(() => {})
      await run
      meta = this.meta!
    }
    const tail = log.highWatermark
    const from = op.from === 'start' ? log.logStartOffset : op.from === 'now' ? tail : op.from
    if (from > tail) return { status: 'bad-offset' }
    if (from < log.logStartOffset) return { status: 'offset-gone' }
    let timedOut = false
    if (from === tail && op.waitMs > 0 && !meta.closed) {
      let wake!: () => void
      const closed = new Promise<void>((resolve) => { wake = resolve })
      this.closeWaiters.add(wake)
      const controller = new AbortController()
      try {
        await Promise.race([log.waitForData(from, op.waitMs, 1, controller.signal), closed])
      } finally {
        controller.abort()
        this.closeWaiters.delete(wake)
      }
      meta = this.meta ?? meta
      if (meta.softDeleted) return { status: 'gone' }
      timedOut = log.highWatermark === from && !meta.closed
    }
    const values: Uint8Array[] = []
    let next = from
    if (from < log.highWatermark) {
      const read = await log.read(from, op.maxBytes)
      for (const batch of read.batches) {
        for (const r of decodeRecords(batch.bytes)) {
          if (r.offset < from) continue
          values.push(r.value ?? new Uint8Array(0))
          next = r.offset + 1
        }
      }
    }
    const state = stateOf(this.meta ?? meta, log)
    return { status: 'data', state, values, from, next, upToDate: next >= state.tail, timedOut }
  }

  /** A fork's inherited data (copy-on-fork: the fork gets the same records at the same offsets). */
  private async fork(log: PartitionLog, meta: DsStreamMeta, op: Extract<DsOp, { op: 'fork' }>): Promise<DsAnswer> {
    if (op.contentType !== undefined && mediaType(op.contentType) !== mediaType(meta.contentType)) return { status: 'type-mismatch' }
    const tail = log.highWatermark
    const offset = op.offset ?? tail
    if (offset > tail || offset < log.logStartOffset) return { status: 'bad-offset' }
    if (op.subOffset > 0 && offset === tail) return { status: 'bad-sub-offset' }
    const groups: Uint8Array[][] = []
    let next = log.logStartOffset
    let at = log.logStartOffset
    let partial: Uint8Array[] | undefined
    const end = op.subOffset > 0 ? tail : offset
    while (at < end) {
      const read = await log.read(at, 4 * 1024 * 1024)
      if (read.batches.length === 0) break
      for (const batch of read.batches) {
        const records = decodeRecords(batch.bytes).filter((r) => r.offset >= at)
        if (records.length === 0) continue
        at = records[records.length - 1].offset + 1
        const before = records.filter((r) => r.offset < offset).map((r) => r.value ?? new Uint8Array(0))
        if (before.length > 0) {
          groups.push(before)
          next = records[before.length - 1].offset + 1
        }
        if (op.subOffset > 0 && records[0].offset <= offset && offset < at) {
          // The anchor's append: JSON counts messages past the anchor, anything else bytes of its record.
          const past = records.filter((r) => r.offset >= offset)
          if (mediaType(meta.contentType) === 'application/json') {
            if (op.subOffset > past.length) return { status: 'bad-sub-offset' }
            partial = past.slice(0, op.subOffset).map((r) => r.value ?? new Uint8Array(0))
            next = offset + op.subOffset
          } else {
            const value = past[0].value ?? new Uint8Array(0)
            if (op.subOffset > value.byteLength) return { status: 'bad-sub-offset' }
            partial = [value.subarray(0, op.subOffset)]
            next = offset + 1
          }
          at = end
          break
        }
      }
    }
    if (partial) groups.push(partial)
    if (op.subOffset === 0) next = offset
    await this.save({ ...meta, forks: meta.forks + 1, touchedAt: meta.ttlSeconds !== undefined ? op.now : meta.touchedAt })
    const config: DsStreamConfig = { path: meta.path, contentType: meta.contentType, ttlSeconds: meta.ttlSeconds, expiresAt: meta.expiresAt, expiresAtMs: meta.expiresAtMs, closed: false }
    return { status: 'snapshot', groups, next, config }
  }

  private wakeClosed(): void {
    for (const wake of this.closeWaiters) wake()
    this.closeWaiters.clear()
  }
}

function stateOf(meta: DsStreamMeta, log: PartitionLog): DsState {
  return { epoch: meta.createdAt, contentType: meta.contentType, tail: log.highWatermark, closed: meta.closed, ttlSeconds: meta.ttlSeconds, expiresAt: meta.expiresAt }
}

export function expired(meta: DsStreamMeta, now: number): boolean {
  if (meta.expiresAtMs !== undefined && now >= meta.expiresAtMs) return true
  return meta.ttlSeconds !== undefined && now >= meta.touchedAt + meta.ttlSeconds * 1000
}

function sameConfig(meta: DsStreamMeta, config: DsStreamConfig): boolean {
  const a = meta.fork
  const b = config.fork
  const sameFork = a === undefined ? b === undefined : b !== undefined && a.from === b.from && a.offset === b.offset && a.subOffset === b.subOffset
  // A fork asked for again without a content type or an expiry has what it inherited.
  const inheritType = b !== undefined && config.contentType === ''
  const inheritExpiry = b !== undefined && config.ttlSeconds === undefined && config.expiresAtMs === undefined
  return (inheritType || mediaType(meta.contentType) === mediaType(config.contentType)) &&
    (inheritExpiry || (meta.ttlSeconds === config.ttlSeconds && meta.expiresAtMs === config.expiresAtMs)) &&
    meta.closed === config.closed &&
    sameFork
}

/** Durable Streams errors the Worker turns into statuses; anything else is a 5xx. */
export function isDsError(error: unknown): error is EdgelogError {
  return error instanceof EdgelogError
}
