/**
 * One partition's log: its single writer. Assigns offsets, checks idempotent sequences,
 * rolls segments, serves reads by offset and time, and runs retention and compaction.
 * Every change is one atomic `storage.commit` (batch + head + segment + producer state).
 *
 * Within one context appends are serialised by a queue. Across contexts sharing the store
 * (browser tabs) they are optimistic: every commit carries `expect` = the head this log
 * built on (and the topic record it belongs to), so the store applies it only if no other
 * writer moved the head meanwhile; on STORAGE_CONFLICT the log re-reads head, segments and
 * producer state and runs the append again (the idempotence check included), a bounded
 * number of times. No lock and no read per append. Maintenance (retention, compaction) also
 * commits under the head precondition, and takes the store's lock only to keep two
 * contexts from maintaining one partition at once.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { PartitionState, SegmentInfo } from '../broker.ts'
import type { StorageAdapter, StorageExpectation, StorageWrite, StoredBatch, StreamId } from '../storage.ts'
import { decodeBatch, readBatchHeader, validateBatch, type BatchHeader } from '../codec/record-batch.ts'
import { wasEncodedInProcess } from '../codec/trusted.ts'
import { inflateLimit } from '../codec/inflate-limit.ts'
import { conformToTopicCompression } from '../codec/topic-compression.ts'
import { keys } from './keys.ts'
import type { ProducerEntry } from './producer-state.ts'
import { planReplicaAppend, replicaKey, type ReplicaPosition } from './replica-plan.ts'
import { planDeleteRecords } from './delete-records.ts'
import { planTruncate } from './truncate.ts'
import { selectExpiredSegments } from './retention.ts'
import { compactSegments } from './compaction.ts'
import { OffsetWaiters } from './waiters.ts'
import { newSegment, planAppends, type AppendResult, type PartitionHead } from './append-plan.ts'
import { PartitionTxns, type AbortedTxn } from './txn-index.ts'
import { encodeMarkerBatch } from '../codec/control-batch.ts'

export type { PartitionHead, AppendResult } from './append-plan.ts'

export interface ReadResult {
  batches: StoredBatch[]
  highWatermark: number
  logStartOffset: number
  lastStableOffset: number
  /** read_committed: the aborted transactions overlapping what was read (Kafka's FetchResponse). */
  abortedTransactions?: AbortedTxn[]
}

export interface PartitionLogOptions {
  storage: StorageAdapter
  stream: StreamId
  config: () => TopicConfig
  now?: () => number
  /**
   * The meta key of the topic record this partition belongs to (`topic/<name>`), when the
   * store holds it (LocalBroker). Every commit then also expects that record, so that nothing
   * is ever written into the stream of a topic deleted (or deleted and created again) by
   * another context or a request racing with the deletion: UNKNOWN_TOPIC_OR_PARTITION instead.
   */
  topicKey?: string
  /** Kafka's producer.id.expiration.ms: idempotent producer state idle this long is dropped by maintenance. */
  producerIdExpirationMs?: number
  /** How messages name the partition (`<topic>-<partition>`) when no topicKey says it. */
  label?: string
}

const DEFAULT_PRODUCER_ID_EXPIRATION_MS = 24 * 3600 * 1000

/** Attempts of one append (or maintenance step) against other contexts' commits. */
const MAX_CONFLICT_ATTEMPTS = 16

export class PartitionLog {
  readonly stream: StreamId
  private readonly storage: StorageAdapter
  private readonly config: () => TopicConfig
  private readonly now: () => number
  private head: PartitionHead = { logStartOffset: 0, nextOffset: 0, activeSegment: 0, cleanedTo: 0 }
  /** Exactly the head value storage holds as far as this log knows (undefined: none yet): what commits expect. */
  private storedHead: PartitionHead | undefined
  /** The topic record as last read (when `topicKey` is set): what commits expect too. */
  private topicRecord: unknown
  private readonly topicKey: string | undefined
  private readonly producerIdExpirationMs: number
  /** Another context appended (seen through `watch`): re-read before the next append. */
  private stale = false
  /** Segments oldest first; the last is the active one. Small: one entry per segment. */
  private segments: SegmentInfo[] = []
  private readonly producers = new Map<number, ProducerEntry | undefined>()
  private writeQueue: Promise<unknown> = Promise.resolve()
  /** Appends waiting for the next group commit, and whether one is queued. */
  private readonly pendingAppends: PendingAppend[] = []
  private flushQueued = false
  private readonly waiters = new OffsetWaiters()
  /** read_committed long polls: woken when the last stable offset passes them. */
  private readonly stableWaiters = new OffsetWaiters()
  /** Ongoing and aborted transactions (txn-index.ts). */
  private readonly txns: PartitionTxns
  private closed = false

  private constructor(private readonly options: PartitionLogOptions) {
    this.storage = options.storage
    this.stream = options.stream
    this.config = options.config
    this.now = options.now ?? Date.now
    this.topicKey = options.topicKey
    this.producerIdExpirationMs = options.producerIdExpirationMs ?? DEFAULT_PRODUCER_ID_EXPIRATION_MS
    this.txns = new PartitionTxns(options.stream)
  }

  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options)
    await log.reload(true)
    return log
  }

  /**
   * How messages name this partition: Kafka's `<topic>-<partition>` (an outbox: `<topic>-outbox-<p>`),
   * not the internal stream id.
   */
  get label(): string {
    if (this.options.label !== undefined) return this.options.label
    if (this.topicKey === undefined) return this.stream
    const name = this.topicKey.slice(keys.topicPrefix.length)
    return `${name}-${this.stream.slice(this.stream.indexOf('/') + 1)}`
  }

  get highWatermark(): number { return this.head.nextOffset }
  get logStartOffset(): number { return this.head.logStartOffset }
  /** Kafka's LSO: the first offset of the oldest ongoing transaction, else the high watermark. */
  get lastStableOffset(): number { return this.txns.lastStableOffset(this.head.nextOffset, this.head.logStartOffset) }

  /**
   * Appends one producer batch; resolves once it is committed to storage. Batches that arrive
   * while a commit is in flight are committed together in the next one (group commit): one
   * storage write for all of them, each answered with its own offsets or its own error.
   */
  append(bytes: Uint8Array, options: { durability?: 'strict' | 'relaxed'; meta?: Array<{ key: string; value: unknown }>; marker?: boolean } = {}): Promise<AppendResult> {
    const config = this.config()
    if (bytes.byteLength > config['max.message.bytes']) {
      return Promise.reject(new EdgelogError('MESSAGE_TOO_LARGE', `Batch of ${bytes.byteLength} bytes is over max.message.bytes (${config['max.message.bytes']})`))
    }
    const maxValue = this.storage.capabilities.maxValueBytes
    if (maxValue !== undefined && bytes.byteLength > maxValue) {
      return Promise.reject(new EdgelogError('MESSAGE_TOO_LARGE', `Batch of ${bytes.byteLength} bytes is over this store's limit of ${maxValue} bytes per batch`))
    }
    if (this.closed) return Promise.reject(closedError(this.label))
    return new Promise<AppendResult>((resolve, reject) => {
      this.pendingAppends.push({ bytes, durability: options.durability ?? 'relaxed', meta: options.meta, marker: options.marker === true, resolve, reject })
      if (!this.flushQueued) {
        this.flushQueued = true
        // If the flush cannot run (the log closed meanwhile), nothing waiting may hang.
        this.exclusive(() => this.flushAppends()).catch((error) => this.rejectPending(error))
      }
    })
  }

  /** Validates what is waiting, in arrival order, and commits the valid batches as one write. */
  private async flushAppends(): Promise<void> {
    this.flushQueued = false
    const waiting = this.pendingAppends.splice(0)
    const config = this.config()
    const valid: Array<{ bytes: Uint8Array; header: BatchHeader; entry: PendingAppend }> = []
    for (const entry of waiting) {
      try {
        // A marker is built by writeMarker itself; anything else comes from a producer.
        const checked = entry.marker ? { bytes: entry.bytes, header: readBatchHeader(entry.bytes) } : await checkProducedBatch(entry.bytes, config)
        valid.push({ bytes: checked.bytes, header: checked.header, entry })
      } catch (error) {
        entry.reject(error)
      }
    }
    if (valid.length === 0) return
    const durability = valid.some((v) => v.entry.durability === 'strict') ? 'strict' : 'relaxed'
    try {
      const results = await this.commitWithRetry(valid.map((v) => ({ bytes: v.bytes, header: v.header, meta: v.entry.meta, marker: v.entry.marker })), config, durability)
      results.forEach((result, i) => (result instanceof EdgelogError ? valid[i].entry.reject(result) : valid[i].entry.resolve(result)))
    } catch (error) {
      for (const v of valid) v.entry.reject(error)
    }
  }

  private async commitWithRetry(
    items: Array<{ bytes: Uint8Array; header: BatchHeader; meta?: Array<{ key: string; value: unknown }>; marker?: boolean }>, config: TopicConfig, durability: 'strict' | 'relaxed',
  ): Promise<Array<AppendResult | EdgelogError>> {
    for (let attempt = 1; ; attempt++) {
      if (this.stale) await this.reload(false)
      try {
        return await this.commitPlan(items, config, durability)
      } catch (error) {
        if (!isEdgelogError(error, 'STORAGE_CONFLICT')) throw error
        // Another context wrote first: re-read its head, segments and producer state, and plan
        // again (a retried idempotent batch it already stored is now a duplicate).
        this.stale = true
        if (attempt >= MAX_CONFLICT_ATTEMPTS) {
          throw new EdgelogError('STORAGE_CONFLICT', `${this.label}: ${attempt} attempts to append lost to other writers; retry`, { cause: error })
        }
        await backoff(attempt)
      }
    }
  }

  private async commitPlan(
    items: Array<{ bytes: Uint8Array; header: BatchHeader; meta?: Array<{ key: string; value: unknown }>; marker?: boolean }>, config: TopicConfig, durability: 'strict' | 'relaxed',
  ): Promise<Array<AppendResult | EdgelogError>> {
    const plan = await planAppends(items, {
      stream: this.stream, config, now: this.now(), head: this.head, segments: this.segments,
      producerEntry: (producerId) => this.producerEntry(producerId),
      txns: { ongoing: this.txns.ongoing, lastAborted: this.txns.lastAborted },
      isMarker: (i) => items[i].marker === true,
    })
    // A marker for an ended transaction may still move the producer's epoch (fencing): commit that alone.
    if (plan.batches.length === 0 && plan.producers.size === 0) return plan.results
    // Nothing of this log's state changes until the commit succeeded.
    try {
      this.assertOpen()
      // An append's own metadata (`append(bytes, { meta })`) commits with its batch, when the batch is stored.
      const extra = items.flatMap((item, i) => (item.meta && !(plan.results[i] instanceof EdgelogError) ? item.meta : []))
      await this.storage.commit({
        batches: plan.batches.map((batch) => ({ stream: this.stream, batch })),
        meta: extra.length === 0 ? plan.meta : [...plan.meta, ...extra], durability, expect: this.expectations(),
      })
    } catch (error) {
      if (!isEdgelogError(error, 'STORAGE_CONFLICT') && !this.closed) {
        // Nothing was stored; re-read what storage holds in case this log's view was off.
        await this.reload(true).catch(() => {})
      }
      throw error
    }
    this.head = plan.head
    this.storedHead = plan.head
    this.segments = plan.segments
    for (const [producerId, entry] of plan.producers) this.producers.set(producerId, entry)
    if (plan.txn) this.txns.adopt(plan.txn.record, plan.txn.aborted)
    this.waiters.notify(plan.head.nextOffset, plan.bytes)
    this.stableWaiters.notify(this.lastStableOffset, plan.bytes)
    return plan.results
  }

  /** The preconditions of every commit of this log: the head it built on, and its topic. */
  private expectations(): StorageExpectation[] {
    const expect: StorageExpectation[] = [{ key: keys.head(this.stream), value: this.storedHead }]
    if (this.topicKey !== undefined) expect.push({ key: this.topicKey, value: this.topicRecord })
    return expect
  }

  /**
   * A follower's append to a replica partition: the leader's batches at the offsets they carry
   * (replica-plan.ts). The broker refuses local producers on a replica, so this is the only
   * way records get into one. Resolves once the batches, head, segments and the leader's
   * position are committed together.
   */
  replicate(batches: Uint8Array[], leader: { logStartOffset: number; highWatermark: number }, options: { durability?: 'strict' | 'relaxed'; meta?: Array<{ key: string; value: unknown }> } = {}): Promise<{ highWatermark: number; appended: number }> {
    return this.exclusive(() => this.retrying(async () => {
      const position: ReplicaPosition = { leaderLogStartOffset: leader.logStartOffset, leaderHighWatermark: leader.highWatermark, syncedAt: this.now() }
      const plan = await planReplicaAppend(batches, {
        stream: this.stream, config: this.config(), now: this.now(), head: this.head, segments: this.segments, position,
        txns: { ongoing: this.txns.ongoing, lastAborted: this.txns.lastAborted },
      })
      // `options.meta` commits with the batches (replication: the follower's leader-epoch cache).
      await this.commitReplica({ batches: plan.batches.map((batch) => ({ stream: this.stream, batch })), meta: options.meta ? [...plan.meta, ...options.meta] : plan.meta, durability: options.durability ?? 'relaxed' })
      this.head = this.storedHead = plan.head
      this.segments = plan.segments
      if (plan.txn) this.txns.adopt(plan.txn.record, plan.txn.aborted)
      if (plan.batches.length > 0) {
        this.waiters.notify(plan.head.nextOffset, plan.bytes)
        this.stableWaiters.notify(this.lastStableOffset, plan.bytes)
      }
      return { highWatermark: plan.head.nextOffset, appended: plan.batches.length }
    }))
  }

  /**
   * The leader's log starts past everything this replica holds (its retention went by while
   * the replica was away): as a Kafka follower does on OFFSET_OUT_OF_RANGE, drop it all and
   * go on from the leader's log start.
   */
  resetReplica(logStartOffset: number, leaderHighWatermark: number): Promise<void> {
    return this.exclusive(() => this.retrying(async () => {
      const head: PartitionHead = { logStartOffset, nextOffset: logStartOffset, activeSegment: logStartOffset, cleanedTo: logStartOffset }
      const position: ReplicaPosition = { leaderLogStartOffset: logStartOffset, leaderHighWatermark, syncedAt: this.now() }
      // Its transactions go with its batches: the leader's later batches open them again here.
      const txns = this.txns.truncate(0)
      await this.commitReplica({
        deleteRanges: [{ stream: this.stream, fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER }],
        meta: [
          { key: keys.head(this.stream), value: head },
          { key: replicaKey(this.stream), value: position },
          ...this.segments.map((s) => ({ key: keys.segment(this.stream, s.baseOffset), value: undefined })),
          ...txns.meta,
        ],
        durability: 'strict',
      })
      txns.apply()
      this.head = this.storedHead = head
      this.segments = []
    }))
  }

  /**
   * Kafka's DeleteRecords: the log starts at `offset` from now on (delete-records.ts). Readers
   * below it get OFFSET_OUT_OF_RANGE; a batch holding `offset` stays whole.
   */
  deleteRecordsBefore(offset: number, alsoMeta: Array<{ key: string; value: unknown }> = [], known?: StoredBatch[]): Promise<{ logStartOffset: number }> {
    return this.exclusive(() => this.retrying(async () => {
      if (!Number.isSafeInteger(offset) || offset > this.head.nextOffset || offset < 0) {
        throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Cannot delete records before ${offset}: ${this.label} ends at ${this.head.nextOffset}`)
      }
      if (offset <= this.head.logStartOffset) {
        if (alsoMeta.length) await this.commitReplica({ meta: alsoMeta, durability: 'strict' })
        return { logStartOffset: this.head.logStartOffset }
      }
      // The caller may know the batches already (the forwarder just read them): no second read.
      const below = known && coversFromStart(known, this.head.logStartOffset, offset)
        ? known
        : await this.storage.readBatches(this.stream, this.head.logStartOffset, { maxBytes: Number.MAX_SAFE_INTEGER, toOffset: offset })
      const plan = planDeleteRecords(this.stream, this.head, this.segments, below, offset)
      const pruned = this.txns.prune(offset)
      // `alsoMeta` commits with it, atomically (the outbox records where the leader stored what it deletes).
      await this.commitReplica({ ...plan.write, meta: [...(plan.write.meta ?? []), ...pruned.meta, ...alsoMeta], durability: 'strict' })
      pruned.apply()
      this.head = this.storedHead = plan.head
      this.segments = plan.segments
      return { logStartOffset: offset }
    }))
  }

  /**
   * Replication (KIP-101): drops every batch at or past `offset` (truncate.ts; a batch holding it
   * goes whole), with `alsoMeta` in the same commit. Producer state is re-read afterwards.
   */
  truncateTo(offset: number, alsoMeta: Array<{ key: string; value: unknown }> = []): Promise<{ nextOffset: number; removedOffsets: number }> {
    return this.exclusive(() => this.retrying(async () => {
      const plan = await planTruncate(this.storage, this.stream, this.head, this.segments, offset)
      // Transactions whose markers or first batches go with the truncated batches go too.
      const cut = this.txns.truncate(offset)
      await this.commitReplica({ ...plan.write, meta: [...(plan.write.meta ?? []), ...cut.meta, ...alsoMeta], durability: 'strict' })
      cut.apply()
      await this.reload(true)
      return { nextOffset: this.head.nextOffset, removedOffsets: plan.removedOffsets }
    }))
  }

  /** Reads head and segments again from storage (after a failure whose outcome is unknown). */
  refresh(): Promise<void> {
    return this.exclusive(() => this.reload(true))
  }

  /** What this replica last heard of its leader (undefined: not a replica, or never synced). */
  replicaPosition(): Promise<ReplicaPosition | undefined> {
    return this.storage.getMeta<ReplicaPosition>(replicaKey(this.stream))
  }

  /** A commit of a write that is not an append (replica, deleted records): precondition on the head; stale after any failure. */
  private async commitReplica(write: StorageWrite): Promise<void> {
    this.assertOpen()
    try {
      await this.storage.commit({ ...write, expect: this.expectations() })
    } catch (error) {
      // Perhaps applied (an ambiguous failure): read storage again before the next write.
      this.stale = true
      throw error
    }
  }

  /**
   * Batches from `offset` up to about `maxBytes` (the first batch always), below the high
   * watermark — or, read_committed, below the last stable offset, with the aborted
   * transactions overlapping what is returned (the reader drops their records).
   */
  async read(offset: number, maxBytes: number, maxBatches?: number, isolation: 'read_uncommitted' | 'read_committed' = 'read_uncommitted'): Promise<ReadResult> {
    this.assertOpen()
    // Another context may have written markers (shared stores): its view of transactions first.
    if (isolation === 'read_committed' && this.stale) await this.txns.load(this.storage)
    const { logStartOffset, nextOffset } = this.head
    if (offset < logStartOffset || offset > nextOffset) {
      throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Offset ${offset} is outside [${logStartOffset}, ${nextOffset}] of ${this.label}`)
    }
    const lastStableOffset = this.lastStableOffset
    const end = isolation === 'read_committed' ? lastStableOffset : nextOffset
    const batches = offset >= end
      ? []
      : await this.storage.readBatches(this.stream, offset, { maxBytes, toOffset: end, maxBatches })
    if (isolation === 'read_uncommitted') return { batches, highWatermark: nextOffset, logStartOffset, lastStableOffset }
    const to = batches.length === 0 ? offset : batches[batches.length - 1].lastOffset + 1
    const abortedTransactions = batches.length === 0 ? [] : this.txns.abortedIn(offset, to)
    return { batches, highWatermark: nextOffset, logStartOffset, lastStableOffset, abortedTransactions }
  }

  /**
   * Resolves when records past `offset` exist (about `minBytes` of them) or after `maxWaitMs`;
   * read_committed, when the last stable offset passed `offset`.
   */
  waitForData(offset: number, maxWaitMs: number, minBytes = 1, signal?: AbortSignal, isolation: 'read_uncommitted' | 'read_committed' = 'read_uncommitted'): Promise<void> {
    if (isolation === 'read_committed') {
      if (offset < this.lastStableOffset && minBytes <= 1) return Promise.resolve()
      return this.stableWaiters.wait(offset, maxWaitMs, minBytes, signal)
    }
    if (offset < this.head.nextOffset && minBytes <= 1) return Promise.resolve()
    return this.waiters.wait(offset, maxWaitMs, minBytes, signal)
  }

  /**
   * Writes a transaction marker (the coordinator's WriteTxnMarkers): ends `producerId`'s
   * transaction here, committed or aborted; the producer's older epochs are fenced here from
   * then on. A marker for a transaction that already ended (or an older epoch) stores nothing.
   */
  writeMarker(marker: { producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch?: number }, partitionLeaderEpoch?: number): Promise<AppendResult> {
    const bytes = encodeMarkerBatch({
      producerId: marker.producerId, producerEpoch: marker.producerEpoch, type: marker.commit ? 'commit' : 'abort',
      coordinatorEpoch: marker.coordinatorEpoch ?? 0, timestamp: this.now(),
    })
    // A replicated leader stamps its epoch, as on every batch it appends (KIP-101; outside the CRC).
    if (partitionLeaderEpoch !== undefined) new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).setInt32(12, partitionLeaderEpoch)
    return this.append(bytes, { durability: 'strict', marker: true })
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

  /**
   * Retention (cleanup.policy delete) and compaction (cleanup.policy compact). With a shared
   * store, under the store's lock (one maintainer per partition across contexts) and on a
   * freshly read state; every commit expects the head it built on, so appends of other
   * contexts (which take no lock) are never lost: on a conflict the step runs again.
   */
  async maintain(options: { forceCompaction?: boolean } = {}): Promise<{ deletedSegments: number; compactedSegments: number }> {
    return this.exclusive(async () => {
      const shared = this.storage.capabilities.shared
      const run = async () => {
        const config = this.config()
        const now = this.now()
        let deletedSegments = 0
        let compactedSegments = 0
        if (config['cleanup.policy'].includes('delete')) {
          deletedSegments = await this.retrying(() => this.applyRetention(config, now))
        }
        if (config['cleanup.policy'].includes('compact')) {
          compactedSegments = await this.retrying(() => this.applyCompaction(config, now, options.forceCompaction ?? false))
        }
        await this.retrying(() => this.expireProducers(now))
        return { deletedSegments, compactedSegments }
      }
      return shared && this.storage.lock
        ? this.storage.lock(`maintain/${this.stream}`, async () => { await this.reload(true); return run() })
        : run()
    })
  }

  /** Drops the state of idempotent producers idle past producer.id.expiration.ms, as Kafka does. */
  private async expireProducers(now: number): Promise<void> {
    const limit = now - this.producerIdExpirationMs
    const entries = await this.storage.listMeta<ProducerEntry>(keys.producerPrefix(this.stream))
    const expired = entries.filter((e) => e.value.lastTimestamp < limit)
    if (expired.length === 0) return
    // Expecting the head: a producer that appended meanwhile (another context) keeps its state.
    await this.storage.commit({ meta: expired.map((e) => ({ key: e.key, value: undefined })), expect: this.expectations() })
    for (const e of expired) this.producers.delete(e.value.producerId)
  }

  /** Runs a maintenance step again (after re-reading storage) when another context's append got in first. */
  private async retrying<T>(step: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      if (this.stale) await this.reload(true)
      try {
        return await step()
      } catch (error) {
        if (!isEdgelogError(error, 'STORAGE_CONFLICT') || attempt >= MAX_CONFLICT_ATTEMPTS) throw error
        this.stale = true
        await backoff(attempt)
      }
    }
  }

  /** A maintenance commit writing `head` under the precondition; this log's head follows it. */
  private async commitHead(write: StorageWrite, head: PartitionHead): Promise<void> {
    this.assertOpen()
    await this.storage.commit({ ...write, meta: [...(write.meta ?? []), { key: keys.head(this.stream), value: head }], expect: this.expectations() })
    this.head = head
    this.storedHead = head
  }

  private async applyRetention(config: TopicConfig, now: number): Promise<number> {
    let segments = this.segments
    const active = segments[segments.length - 1]
    // An expired active segment is rolled first so that it can go too (as Kafka does).
    if (active && active.batches > 0 && config['retention.ms'] >= 0 && now - active.maxTimestamp > config['retention.ms']) {
      const rolled = newSegment(this.head.nextOffset, now)
      await this.commitHead({ meta: [{ key: keys.segment(this.stream, rolled.baseOffset), value: rolled }] }, { ...this.head, activeSegment: rolled.baseOffset })
      this.segments = segments = [...segments, rolled]
    }
    const expired = selectExpiredSegments(segments, config, now)
    if (expired.length === 0) return 0
    const remaining = segments.slice(expired.length)
    const logStartOffset = Math.max(this.head.logStartOffset, remaining[0]?.baseOffset ?? this.head.nextOffset)
    const pruned = this.txns.prune(logStartOffset)
    await this.commitHead({
      deleteRanges: [{ stream: this.stream, fromOffset: expired[0].baseOffset, toOffset: expired[expired.length - 1].endOffset }],
      meta: [...expired.map((s) => ({ key: keys.segment(this.stream, s.baseOffset), value: undefined })), ...pruned.meta],
    }, { ...this.head, logStartOffset, cleanedTo: Math.max(this.head.cleanedTo, logStartOffset) })
    pruned.apply()
    this.segments = remaining
    return expired.length
  }

  private async applyCompaction(config: TopicConfig, now: number, force: boolean): Promise<number> {
    // Compaction rewrites closed segments only, which appends never touch: a commit of it that
    // loses to another context's append is rebased on the new head and tried again.
    const start = { logStartOffset: this.head.logStartOffset, cleanedTo: this.head.cleanedTo }
    let rebased = false
    const headKey = keys.head(this.stream)
    const storage = this.storage
    const guarded: StorageAdapter = {
      capabilities: storage.capabilities,
      readBatches: (stream, from, options) => storage.readBatches(stream, from, options),
      getMeta: (key) => storage.getMeta(key),
      listMeta: (prefix) => storage.listMeta(prefix),
      close: () => storage.close(),
      commit: async (write: StorageWrite): Promise<void> => {
        for (let attempt = 1; ; attempt++) {
          this.assertOpen()
          try {
            await storage.commit({ ...write, expect: this.expectations() })
            const written = write.meta?.find((m) => m.key === headKey)
            if (written) this.storedHead = this.head = written.value as PartitionHead
            return
          } catch (error) {
            if (!isEdgelogError(error, 'STORAGE_CONFLICT') || attempt >= MAX_CONFLICT_ATTEMPTS) throw error
            await this.reload(false)
            if (this.head.logStartOffset !== start.logStartOffset || this.head.cleanedTo !== start.cleanedTo) throw error
            rebased = true
            write = {
              ...write,
              meta: write.meta?.map((m) => m.key === headKey
                ? { key: m.key, value: { ...this.head, cleanedTo: Math.max(this.head.cleanedTo, (m.value as PartitionHead).cleanedTo) } }
                : m),
            }
          }
        }
      },
    }
    const result = await compactSegments({
      storage: guarded, stream: this.stream, segments: this.segments, head: this.head, config, now, force,
      // Never past an ongoing transaction; records of aborted ones go, markers stay.
      stableOffset: this.lastStableOffset, isAborted: (producerId, offset) => this.txns.isAborted(producerId, offset),
    })
    if (!result) return 0
    if (rebased) {
      // Other contexts appended meanwhile: their segments are newer than the result's.
      await this.reload(true)
    } else {
      this.segments = result.segments
      this.head = this.storedHead = result.head
    }
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

  /**
   * The segment holding `offset` (a copy), and whether it is the active one; undefined outside
   * every segment. A binary search: what a read asks per request, whatever the log's length.
   */
  segmentOf(offset: number): { segment: SegmentInfo; active: boolean } | undefined {
    const segments = this.segments
    let lo = 0
    let hi = segments.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const s = segments[mid]
      if (offset < s.baseOffset) hi = mid - 1
      else if (offset >= s.endOffset) lo = mid + 1
      else return { segment: { ...s }, active: mid === segments.length - 1 }
    }
    return undefined
  }

  /** Another context appended (shared stores): move the high watermark and wake readers. */
  observeAppend(nextOffset: number): void {
    if (nextOffset > this.head.nextOffset) {
      this.head = { ...this.head, nextOffset }
      this.stale = true
      this.waiters.notify(nextOffset, 0)
      // Perhaps a marker moved the LSO: read_committed polls re-read (loading the transactions again).
      this.stableWaiters.notify(nextOffset, 0)
    }
  }

  /** Closed by the broker, or found deleted by another context. */
  get isClosed(): boolean { return this.closed }

  close(): void {
    this.closed = true
    this.waiters.cancelAll()
    this.stableWaiters.cancelAll()
    this.rejectPending(closedError(this.label))
  }

  private rejectPending(error: unknown): void {
    this.flushQueued = false
    for (const entry of this.pendingAppends.splice(0)) entry.reject(error)
  }

  private assertOpen(): void {
    if (this.closed) throw closedError(this.label)
  }

  /** Serialises writers in this context (a queue); other contexts are handled by commit preconditions. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.assertOpen()
    const run = () => {
      this.assertOpen()
      return fn()
    }
    const result = this.writeQueue.then(run, run)
    this.writeQueue = result.catch(() => undefined)
    return result
  }

  /**
   * Reads head, segments (and the topic record) from storage: at open, after a conflict or a
   * failed commit, when another context appended, and before maintenance of a shared store.
   */
  /**
   * Re-reads the head, segments and topic record from storage. Nothing changes until every
   * read succeeded: a head newer than the segments would let the next append write a stale
   * segment record over the stored one. Until a reload completes the log stays `stale`.
   */
  private async reload(full: boolean): Promise<void> {
    this.stale = true
    const [head, topic] = await Promise.all([
      this.storage.getMeta<PartitionHead>(keys.head(this.stream)),
      this.topicKey === undefined ? undefined : this.storage.getMeta<{ topicId?: string; partitions?: number }>(this.topicKey),
    ])
    if (this.topicKey !== undefined) {
      // `<topicId>/<partition>` (or `<topicId>/outbox-<partition>`: an outbox log).
      const slash = this.stream.indexOf('/')
      const partition = Number(/(\d+)$/.exec(this.stream)?.[1])
      if (!topic || topic.topicId !== this.stream.slice(0, slash) || !(partition < (topic.partitions ?? 0))) {
        // The topic was deleted (perhaps created again, with another id): this stream is gone.
        this.close()
        throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Partition ${this.label} no longer exists (its topic was deleted)`)
      }
    }
    const previous = this.head
    const fresh = head ?? { logStartOffset: 0, nextOffset: 0, activeSegment: 0, cleanedTo: 0 }
    let segments: SegmentInfo[]
    if (full || !head || head.activeSegment !== previous.activeSegment || head.logStartOffset !== previous.logStartOffset || this.segments.length === 0) {
      segments = (await this.storage.listMeta<SegmentInfo>(keys.segmentPrefix(this.stream))).map((e) => e.value)
    } else {
      const active = await this.storage.getMeta<SegmentInfo>(keys.segment(this.stream, head.activeSegment))
      segments = this.segments.slice()
      if (active) segments[segments.length - 1] = active
    }
    await this.txns.load(this.storage)
    if (topic) this.topicRecord = topic
    this.storedHead = head
    this.head = fresh
    this.segments = segments
    // Producer state is re-read lazily: another context may have appended for the same producer.
    this.producers.clear()
    this.stale = false
    if (this.head.nextOffset > previous.nextOffset) this.waiters.notify(this.head.nextOffset, 0)
    this.stableWaiters.notify(this.lastStableOffset, 0)
  }

  private async producerEntry(producerId: number): Promise<ProducerEntry | undefined> {
    if (this.producers.has(producerId)) return this.producers.get(producerId)
    const entry = await this.storage.getMeta<ProducerEntry>(keys.producer(this.stream, producerId))
    this.producers.set(producerId, entry)
    return entry
  }
}

/** A short random pause before trying again after losing to another writer. */
function backoff(attempt: number): Promise<void> {
  if (attempt <= 1) return Promise.resolve()
  return new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)))
}

/** `batches` are contiguous from the batch holding `start` through one ending at or past `end - 1`. */
function coversFromStart(batches: StoredBatch[], start: number, end: number): boolean {
  if (batches.length === 0 || batches[0].baseOffset > start || batches[0].lastOffset < start) return false
  for (let i = 1; i < batches.length; i++) if (batches[i].baseOffset !== batches[i - 1].lastOffset + 1) return false
  return batches[batches.length - 1].lastOffset + 1 >= end
}

function closedError(partition: string): EdgelogError {
  return new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Partition ${partition} is closed or deleted`)
}

interface PendingAppend {
  bytes: Uint8Array
  durability: 'strict' | 'relaxed'
  /** Metadata committed atomically with this batch (and only if it is stored). */
  meta?: Array<{ key: string; value: unknown }>
  /** A transaction marker built by writeMarker (never a producer's batch). */
  marker: boolean
  resolve: (result: AppendResult) => void
  reject: (error: unknown) => void
}

/** Checks a batch from a producer: well-formed (unless this realm's producer encoded it), offsets 0..n-1, keys where compaction needs them. */
async function checkProducedBatch(given: Uint8Array, config: TopicConfig): Promise<{ bytes: Uint8Array; header: BatchHeader }> {
  const maxInflatedBytes = inflateLimit(config['max.message.bytes'])
  const checkedHeader = wasEncodedInProcess(given) ? readBatchHeader(given) : await validateBatch(given, maxInflatedBytes)
  // The topic's compression.type: a batch with another codec is stored re-encoded with the topic's (as Kafka does).
  const { bytes, header, recompressed } = await conformToTopicCompression(given, config['compression.type'], { header: checkedHeader, maxInflatedBytes })
  if (recompressed && bytes.byteLength > config['max.message.bytes']) {
    throw new EdgelogError('MESSAGE_TOO_LARGE', `Batch of ${bytes.byteLength} bytes (re-encoded for compression.type ${config['compression.type']}) is over max.message.bytes (${config['max.message.bytes']})`)
  }
  // Control batches are the coordinator's alone (writeMarker), as in Kafka.
  if (header.isControl) throw new EdgelogError('INVALID_RECORD', 'A producer cannot write control batches (transaction markers)')
  if (header.isTransactional && (header.producerId < 0 || header.producerEpoch < 0)) {
    throw new EdgelogError('INVALID_RECORD', 'A transactional batch needs a producer id and epoch')
  }
  if (header.lastOffsetDelta !== header.recordCount - 1) {
    throw new EdgelogError('INVALID_RECORD', `A produced batch must have contiguous offset deltas 0..${header.recordCount - 1}`)
  }
  if (config['cleanup.policy'].includes('compact')) await requireKeys(bytes, maxInflatedBytes)
  return { bytes, header }
}

async function requireKeys(bytes: Uint8Array, maxInflatedBytes?: number): Promise<void> {
  const { records } = await decodeBatch(bytes, undefined, maxInflatedBytes)
  if (records.some((r) => r.key === null)) {
    throw new EdgelogError('INVALID_RECORD', 'Compacted topic cannot accept a record without a key')
  }
}
