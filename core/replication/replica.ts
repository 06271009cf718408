/**
 * One replica of one partition on one broker: a `PartitionLog` over the broker's own storage,
 * plus the replication state Kafka's `Partition` keeps. As leader it appends (stamping its
 * leader epoch into each batch), serves its followers' fetches, tracks each follower's log end
 * from those fetches, moves the high watermark to the lowest log end of the ISR, answers
 * acks=all once the ISR has the batch, and asks the controller to shrink or grow the ISR. As
 * follower it runs a `FollowerFetcher` (fetcher.ts) that truncates to the leader's log at the
 * epoch boundary (KIP-101) and then copies the leader's batches at the leader's offsets.
 * Consumers read up to the high watermark only, from the leader or (KIP-392) a follower.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { PartitionLog } from '../log/partition-log.ts'
import type { StorageAdapter } from '../storage.ts'
import { OffsetWaiters } from '../log/waiters.ts'
import { LeaderEpochCache, checkpointOf, stampEpoch, type ReplicationCheckpoint } from './epoch-cache.ts'
import { FollowerFetcher, type FetcherSettings } from './fetcher.ts'
import { AckWaiters } from './ack-waiters.ts'
import { readCommitted } from './committed-read.ts'
import { followerProducerState } from './follower-producers.ts'
import {
  replicationKey, type BrokerId, type EpochEndOffset, type EpochEndOffsetRequest, type EventSink, type PartitionAssignment,
  type ReplicaFetchRequest, type ReplicaFetchResponse, type ReplicaProduceOutcome, type ReplicaProduceRequest,
  type ReplicaReadRequest, type ReplicaReadResponse, type ReplicaStatus, type Transport,
} from './types.ts'

export interface ReplicaSettings extends FetcherSettings {
  /** Kafka's replica.lag.time.max.ms. */
  replicaLagTimeMaxMs: number
}

/**
 * How a replica is driven when its host is not the in-process pull loop. At the edge
 * (worker/replication/) the leader pushes to its followers on append: no fetcher runs on a
 * follower, and the host is told when the leader has appended, to push.
 */
export interface ReplicaHooks {
  /** The leader pushes (the host calls appendFromLeader / truncateTo): followers run no FollowerFetcher. */
  pushed?: boolean
  /** Called after the leader appended a produce request's batches (before acks=all waits). */
  onAppend?: () => void
  /** Called when the high watermark moved (what readers may see grew): the edge pushes to its watch sockets. */
  onHighWatermark?: () => void
}

interface FollowerState { leo: number; lastCaughtUpMs: number; lastFetchMs: number; lastFetchLeaderLeo: number; lastExpandMs?: number }

export class PartitionReplica {
  private assignment: PartitionAssignment | undefined
  private role: 'leader' | 'follower' | 'none' = 'none'
  private leaderEpoch = -1
  private hw: number
  /** The high watermark as last checkpointed (a leader writes it from its tick, as Kafka's checkpoint thread). */
  private checkpointedHw: number
  private followers = new Map<BrokerId, FollowerState>()
  /** An AlterPartition in flight; the HW counts its new members already (KIP-497's maximal ISR). */
  private pendingIsr: BrokerId[] | undefined
  private readonly acks = new AckWaiters()
  private readonly hwWaiters = new OffsetWaiters()
  private fetcher: FollowerFetcher | undefined
  private transitions: Promise<unknown> = Promise.resolve()
  private closed = false

  private constructor(
    readonly broker: BrokerId,
    readonly log: PartitionLog,
    private readonly storage: StorageAdapter,
    private readonly transport: Transport,
    private readonly settings: ReplicaSettings,
    private readonly events: EventSink,
    private readonly now: () => number,
    readonly topic: string,
    private epochs: LeaderEpochCache,
    highWatermark: number,
    private readonly hooks: ReplicaHooks = {},
  ) {
    this.hw = highWatermark
    this.checkpointedHw = highWatermark
  }

  static async open(o: {
    broker: BrokerId; log: PartitionLog; storage: StorageAdapter; transport: Transport; settings: ReplicaSettings
    events: EventSink; now: () => number; topic: string; hooks?: ReplicaHooks
  }): Promise<PartitionReplica> {
    const checkpoint = await o.storage.getMeta<ReplicationCheckpoint>(replicationKey(o.log.stream))
    const leo = o.log.highWatermark
    // A crash between a truncation and its checkpoint cannot happen (one commit), but stay safe.
    const epochs = new LeaderEpochCache(checkpoint?.epochs ?? []).truncateFromEnd(leo + 1)
    return new PartitionReplica(o.broker, o.log, o.storage, o.transport, o.settings, o.events, o.now, o.topic, epochs, Math.min(checkpoint?.highWatermark ?? 0, leo), o.hooks)
  }

  get topicId(): string { return this.log.stream.slice(0, this.log.stream.indexOf('/')) }
  get partition(): number { return Number(this.log.stream.slice(this.log.stream.indexOf('/') + 1)) }
  get label(): string { return `${this.topic}-${this.partition}@${this.broker}` }
  get highWatermark(): number { return this.hw }
  get logEndOffset(): number { return this.log.highWatermark }
  get latestEpoch(): number { return this.epochs.latestEpoch }
  /** The controller's decision this replica last applied (its own ISR changes included). */
  get currentAssignment(): PartitionAssignment | undefined { return this.assignment }
  localEndOffsetFor(epoch: number): number { return this.epochs.endOffsetFor(epoch, this.log.highWatermark).endOffset }

  /** The controller's decision for this partition; older ones than what is applied are ignored. */
  applyAssignment(next: PartitionAssignment): Promise<void> {
    return this.transition(async () => {
      const current = this.assignment
      if (this.closed || (current && next.partitionEpoch <= current.partitionEpoch)) return
      this.assignment = next
      const leaderChanged = next.leaderEpoch !== this.leaderEpoch || this.role === 'none'
      if (!leaderChanged) {
        if (this.role === 'leader') {
          this.syncFollowers(next)
          this.recomputeHw()
        }
        return
      }
      if (next.leader === this.broker) await this.becomeLeader(next)
      else await this.becomeFollower(next)
    })
  }

  private async becomeLeader(a: PartitionAssignment): Promise<void> {
    await this.stopFetcher()
    const startOffset = this.log.highWatermark
    // The new epoch starts at this log's end: what a returning replica truncates to (KIP-101).
    const epochs = this.epochs.assign(a.leaderEpoch, startOffset)
    await this.checkpoint(epochs, this.hw)
    // Followers do not keep producer state in memory: re-read it before appending as leader.
    await this.log.refresh()
    this.role = 'leader'
    this.leaderEpoch = a.leaderEpoch
    const now = this.now()
    this.followers = new Map(a.replicas.filter((r) => r !== this.broker).map((r) => [r, { leo: -1, lastCaughtUpMs: now, lastFetchMs: now, lastFetchLeaderLeo: -1 }]))
    if (a.unclean) {
      this.events({ kind: 'unclean-leader-election', topic: a.topic, partition: a.partition, leader: this.broker, leaderEpoch: a.leaderEpoch, startOffset, highWatermark: this.hw })
    }
    this.recomputeHw()
  }

  /**
   * A reassignment changes the replicas within a leader epoch (Kafka's adding and removing
   * replicas): an added one starts unknown (out of the ISR until caught up), a removed one is forgotten.
   */
  private syncFollowers(a: PartitionAssignment): void {
    const now = this.now()
    for (const r of a.replicas) {
      if (r !== this.broker && !this.followers.has(r)) this.followers.set(r, { leo: -1, lastCaughtUpMs: now, lastFetchMs: now, lastFetchLeaderLeo: -1 })
    }
    for (const r of [...this.followers.keys()]) if (!a.replicas.includes(r)) this.followers.delete(r)
  }

  private async becomeFollower(a: PartitionAssignment): Promise<void> {
    this.role = 'follower'
    this.leaderEpoch = a.leaderEpoch
    this.followers.clear()
    this.acks.failAll(() => new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} is no longer the leader (epoch ${a.leaderEpoch}, leader ${a.leader})`))
    await this.stopFetcher()
    if (a.leader >= 0 && !this.hooks.pushed) this.fetcher = new FollowerFetcher(this, this.transport.broker(a.leader), a.leader, a.leaderEpoch, this.settings).start()
  }

  private async stopFetcher(): Promise<void> {
    const fetcher = this.fetcher
    this.fetcher = undefined
    await fetcher?.stop()
  }

  // ── leader ──────────────────────────────────────────────────────────────────────────────

  async produce(req: ReplicaProduceRequest): Promise<ReplicaProduceOutcome[]> {
    const a = this.assertLeader()
    const epoch = this.leaderEpoch
    const minIsr = a.config['min.insync.replicas']
    if (req.acks === -1 && a.isr.length < minIsr) {
      const error = new EdgelogError('NOT_ENOUGH_REPLICAS', `${this.label}: the ISR ${JSON.stringify(a.isr)} has fewer than min.insync.replicas=${minIsr} members`)
      return req.batches.map(() => ({ error: error.toJSON() }))
    }
    const durability = req.acks === -1 ? 'strict' : 'relaxed'
    const counts = req.batches.map((b) => (b instanceof Uint8Array && b.byteLength >= 61 ? stampEpoch(b, epoch) : 0))
    const settled = await Promise.allSettled(req.batches.map((b) => this.log.append(b, { durability })))
    // An ISR of the leader alone commits on its own append.
    this.recomputeHw()
    if (settled.some((s) => s.status === 'fulfilled')) this.hooks.onAppend?.()
    return Promise.all(settled.map(async (s, i): Promise<ReplicaProduceOutcome> => {
      if (s.status === 'rejected') return failure(s.reason)
      if (this.role !== 'leader' || this.leaderEpoch !== epoch) {
        return failure(new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} lost its leadership (epoch ${epoch}) while appending`))
      }
      const ok = { baseOffset: s.value.baseOffset, logAppendTime: s.value.logAppendTime, logStartOffset: this.log.logStartOffset }
      if (req.acks !== -1) return ok
      try {
        await this.acks.wait(s.value.baseOffset + counts[i], this.hw, req.timeoutMs, () => this.checkMinIsr())
        return ok
      } catch (error) {
        return failure(error)
      }
    }))
  }

  /** Checked when the ISR has a batch (Kafka does it then too): the ISR may have shrunk meanwhile. */
  private checkMinIsr(): EdgelogError | undefined {
    const a = this.assignment
    if (!a) return undefined
    const minIsr = a.config['min.insync.replicas']
    return a.isr.length < minIsr
      ? new EdgelogError('NOT_ENOUGH_REPLICAS_AFTER_APPEND', `${this.label}: appended, but the ISR ${JSON.stringify(a.isr)} shrank below min.insync.replicas=${minIsr}`)
      : undefined
  }

  async handleReplicaFetch(req: ReplicaFetchRequest): Promise<ReplicaFetchResponse> {
    this.assertLeader(req.leaderEpoch)
    const follower = this.followers.get(req.replicaId)
    if (!follower) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Broker ${req.replicaId} is not a replica of ${this.label}`)
    const leo = this.log.highWatermark
    const lso = this.log.logStartOffset
    if (req.fetchOffset > leo || req.fetchOffset < lso) {
      return { batches: [], highWatermark: this.hw, logStartOffset: lso, logEndOffset: leo, outOfRange: true }
    }
    // Kafka's lastCaughtUpTimeMs: caught up now, or with what the leader had at the previous fetch.
    const now = this.now()
    if (req.fetchOffset >= leo) follower.lastCaughtUpMs = now
    else if (req.fetchOffset >= follower.lastFetchLeaderLeo) follower.lastCaughtUpMs = Math.max(follower.lastCaughtUpMs, follower.lastFetchMs)
    follower.leo = req.fetchOffset
    follower.lastFetchLeaderLeo = leo
    follower.lastFetchMs = now
    this.maybeExpandIsr(req.replicaId, follower)
    this.recomputeHw()
    let batches = await this.readRange(req.fetchOffset, this.log.highWatermark, req.maxBytes)
    if (batches.length === 0 && req.maxWaitMs > 0) {
      await this.log.waitForData(req.fetchOffset, req.maxWaitMs)
      this.assertLeader(req.leaderEpoch)
      batches = await this.readRange(req.fetchOffset, this.log.highWatermark, req.maxBytes)
    }
    return { batches, highWatermark: this.hw, logStartOffset: this.log.logStartOffset, logEndOffset: this.log.highWatermark }
  }

  /** KIP-101's OffsetsForLeaderEpoch, answered by the leader only (fenced by the asker's epoch). */
  async epochEndOffset(req: EpochEndOffsetRequest): Promise<EpochEndOffset> {
    this.assertLeader(req.leaderEpoch)
    return this.epochs.endOffsetFor(req.epoch, this.log.highWatermark)
  }

  /** Periodic: followers that have not caught up for replica.lag.time.max.ms leave the ISR. */
  tick(): void {
    const a = this.assignment
    if (this.role === 'leader' && this.hw > this.checkpointedHw) void this.transition(() => this.checkpointHw()).catch(() => {})
    if (this.role !== 'leader' || !a || this.pendingIsr) return
    const now = this.now()
    const lagging = a.isr.filter((r) => r !== this.broker && now - (this.followers.get(r)?.lastCaughtUpMs ?? 0) > this.settings.replicaLagTimeMaxMs)
    if (lagging.length > 0) this.alterIsr(a.isr.filter((r) => !lagging.includes(r)))
  }

  private maybeExpandIsr(id: BrokerId, f: FollowerState): void {
    const a = this.assignment!
    if (this.pendingIsr || a.isr.includes(id)) return
    // Caught up to the high watermark and into this leader's epoch: it may count again. Not on
    // every fetch: the controller refuses a fenced broker, and would be asked at each poll.
    const now = this.now()
    if (f.lastExpandMs !== undefined && now - f.lastExpandMs < Math.min(1_000, this.settings.replicaLagTimeMaxMs / 2)) return
    if (f.leo >= this.hw && f.leo >= (this.epochs.startOffsetOf(this.leaderEpoch) ?? 0)) {
      f.lastExpandMs = now
      this.alterIsr([...a.isr, id])
    }
  }

  /** Kafka's AlterPartition: the ISR changes only once the controller agrees (a deposed leader cannot shrink it to itself). */
  private alterIsr(isr: BrokerId[]): void {
    const a = this.assignment!
    this.pendingIsr = isr
    void this.transport.controller()
      .alterPartition({ topicId: a.topicId, partition: a.partition, leader: this.broker, leaderEpoch: a.leaderEpoch, partitionEpoch: a.partitionEpoch, isr })
      .then((next) => this.applyAssignment(next), (error) => {
        // Fenced (a newer leader exists) or built on an old state: learn the current one.
        if (isEdgelogError(error, 'FENCED_LEADER_EPOCH') || isEdgelogError(error, 'INVALID_UPDATE_VERSION')) return this.refreshAssignment()
      })
      .catch(() => {})
      .finally(() => {
        this.pendingIsr = undefined
        this.recomputeHw()
      })
  }

  private recomputeHw(): void {
    const a = this.assignment
    if (this.role !== 'leader' || !a) return
    let hw = this.log.highWatermark
    for (const member of new Set([...a.isr, ...(this.pendingIsr ?? [])])) {
      if (member !== this.broker) hw = Math.min(hw, this.followers.get(member)?.leo ?? -1)
    }
    this.advanceHw(hw)
  }

  private advanceHw(hw: number): void {
    if (hw <= this.hw) return
    this.hw = hw
    this.hwWaiters.notify(hw, 0)
    this.acks.reached(hw)
    this.hooks.onHighWatermark?.()
  }

  private assertLeader(epoch?: number): PartitionAssignment {
    if (this.closed) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} is closed`)
    if (epoch !== undefined && epoch < this.leaderEpoch) throw new EdgelogError('FENCED_LEADER_EPOCH', `${this.label}: epoch ${epoch} is older than ${this.leaderEpoch}`)
    if (epoch !== undefined && epoch > this.leaderEpoch) throw new EdgelogError('UNKNOWN_LEADER_EPOCH', `${this.label}: epoch ${epoch} is newer than ${this.leaderEpoch}`)
    if (this.role !== 'leader' || !this.assignment) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} is not the leader`)
    return this.assignment
  }

  // ── follower (called by the fetcher) ─────────────────────────────────────────────────────

  /** The leader's batches at its offsets; the epoch cache and high watermark commit with them. */
  async appendFromLeader(res: ReplicaFetchResponse): Promise<void> {
    let epochs = this.epochs
    let leo = this.log.highWatermark
    for (const b of res.batches) {
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength)
      const base = Number(view.getBigInt64(0))
      const last = base + view.getInt32(23)
      if (last < leo) continue
      epochs = epochs.assign(view.getInt32(12), base)
      leo = last + 1
    }
    const hw = Math.max(this.hw, Math.min(res.highWatermark, leo))
    if (leo > this.log.highWatermark) {
      const producers = await followerProducerState(this.storage, this.log.stream, res.batches, this.log.highWatermark, this.now())
      await this.log.replicate(res.batches, { logStartOffset: res.logStartOffset, highWatermark: res.highWatermark }, {
        durability: 'strict', meta: [{ key: replicationKey(this.log.stream), value: checkpointOf(epochs, hw) }, ...producers],
      })
      this.epochs = epochs
    }
    this.advanceHw(Math.min(hw, this.log.highWatermark))
  }

  /** KIP-101: drop what the leader does not have. Below the high watermark is data loss: reported. */
  async truncateTo(offset: number): Promise<void> {
    const before = this.log.highWatermark
    if (offset >= before) return
    const epochs = this.epochs.truncateFromEnd(offset)
    const { nextOffset, removedOffsets } = await this.log.truncateTo(offset, [{ key: replicationKey(this.log.stream), value: checkpointOf(epochs, Math.min(this.hw, offset)) }])
    this.epochs = epochs
    const a = this.assignment
    const where = { topic: this.topic, partition: this.partition, broker: this.broker }
    if (nextOffset < this.hw) {
      this.events({ kind: 'committed-records-truncated', ...where, from: nextOffset, highWatermark: this.hw, records: this.hw - nextOffset })
      this.hw = nextOffset
    }
    if (removedOffsets > 0 && a) this.events({ kind: 'truncated', ...where, from: nextOffset, records: removedOffsets })
  }

  /** The leader's log starts past this replica's end (retention went by): start again there. */
  async resetTo(logStartOffset: number, leaderHighWatermark: number): Promise<void> {
    await this.log.resetReplica(logStartOffset, leaderHighWatermark)
    const epochs = new LeaderEpochCache()
    await this.checkpoint(epochs, logStartOffset)
    this.hw = logStartOffset
  }

  /** Asks the controller for this partition's current assignment (after a fencing error). */
  async refreshAssignment(): Promise<void> {
    const next = await this.transport.controller().assignment({ topicId: this.topicId, partition: this.partition }).catch(() => undefined)
    if (next) await this.applyAssignment(next)
  }

  // ── consumers ────────────────────────────────────────────────────────────────────────────

  /** A consumer's read: up to the high watermark only, on the leader or (KIP-392) a follower. */
  async read(req: ReplicaReadRequest): Promise<ReplicaReadResponse> {
    if (this.closed || this.role === 'none') throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} serves no reads`)
    const lso = this.log.logStartOffset
    if (req.offset < lso || (this.role === 'leader' && req.offset > this.log.highWatermark)) {
      throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Offset ${req.offset} is outside [${lso}, ${this.log.highWatermark}] of ${this.label}`)
    }
    if (req.isolationLevel === 1) return readCommitted(this.log, () => this.hw, (offset, ms) => this.hwWaiters.wait(offset, ms, 1), req)
    let batches = await this.readRange(req.offset, this.hw, req.maxBytes)
    if (batches.length === 0 && (req.maxWaitMs ?? 0) > 0) {
      await this.hwWaiters.wait(req.offset, req.maxWaitMs!, 1)
      batches = await this.readRange(req.offset, this.hw, req.maxBytes)
    }
    return { batches, highWatermark: this.hw, logStartOffset: this.log.logStartOffset }
  }

  /**
   * The transaction coordinator's marker (WriteTxnMarkers), appended by the leader at its epoch
   * and replicated like any batch; answered once the ISR has it (Kafka writes markers with
   * acks=all). A marker for a transaction already ended here stores nothing.
   */
  async writeMarker(marker: { producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch?: number }, timeoutMs: number): Promise<void> {
    const a = this.assertLeader()
    const epoch = this.leaderEpoch
    if (a.isr.length < a.config['min.insync.replicas']) {
      throw new EdgelogError('NOT_ENOUGH_REPLICAS', `${this.label}: the ISR ${JSON.stringify(a.isr)} has fewer than min.insync.replicas=${a.config['min.insync.replicas']} members`)
    }
    const written = await this.log.writeMarker(marker, epoch)
    this.recomputeHw()
    if (written.baseOffset < 0) return
    this.hooks.onAppend?.()
    if (this.role !== 'leader' || this.leaderEpoch !== epoch) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} lost its leadership (epoch ${epoch}) while writing a marker`)
    await this.acks.wait(written.baseOffset + 1, this.hw, timeoutMs, () => this.checkMinIsr())
  }

  async offsetFor(spec: 'earliest' | 'latest' | { timestamp: number }, isolationLevel: 0 | 1 = 0): Promise<{ offset: number; timestamp: number }> {
    this.assertLeader()
    if (spec === 'latest') return { offset: isolationLevel === 1 ? Math.min(this.hw, this.log.lastStableOffset) : this.hw, timestamp: -1 }
    const found = await this.log.offsetForTime(spec)
    return found.offset >= this.hw ? { offset: -1, timestamp: -1 } : found
  }

  status(): ReplicaStatus {
    const { sizeBytes, segments } = this.log.state()
    return {
      broker: this.broker, role: this.role, leaderEpoch: this.leaderEpoch, logStartOffset: this.log.logStartOffset,
      logEndOffset: this.log.highWatermark, highWatermark: this.hw, sizeBytes, segments,
      followers: this.role === 'leader' ? [...this.followers].map(([broker, f]) => ({ broker, logEndOffset: f.leo, lastCaughtUpMs: f.lastCaughtUpMs })) : undefined,
    }
  }

  async close(): Promise<void> {
    // A broker that stops in order checkpoints its high watermark (one that crashes loses up to a tick of it).
    if (this.role === 'leader') await this.transition(() => this.checkpointHw()).catch(() => {})
    this.closed = true
    this.acks.failAll(() => new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${this.label} is closed`))
    this.hwWaiters.cancelAll()
    await this.stopFetcher()
    this.log.close()
  }

  private async readRange(from: number, to: number, maxBytes: number): Promise<Uint8Array[]> {
    if (from >= to) return []
    return (await this.storage.readBatches(this.log.stream, from, { maxBytes, toOffset: to })).map((b) => b.bytes)
  }

  private async checkpoint(epochs: LeaderEpochCache, hw: number): Promise<void> {
    await this.storage.commit({ meta: [{ key: replicationKey(this.log.stream), value: checkpointOf(epochs, hw) }], durability: 'strict' })
    this.epochs = epochs
    this.checkpointedHw = hw
  }

  private async checkpointHw(): Promise<void> {
    if (this.role === 'leader' && this.hw > this.checkpointedHw && !this.closed) await this.checkpoint(this.epochs, this.hw)
  }

  private transition<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.transitions.then(fn, fn)
    this.transitions = result.catch(() => undefined)
    return result
  }
}

function failure(error: unknown): ReplicaProduceOutcome {
  if (!isEdgelogError(error)) throw error
  return { error: { code: error.code, message: error.message } }
}
