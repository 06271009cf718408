import { DurableObject } from 'cloudflare:workers'
import { SqliteStorage } from '../../adapters/durable-object/index.ts'
import { translateStorageError } from '../../adapters/durable-object/sqlite-storage.ts'
import { EdgelogError } from '../../core/errors.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import type { TopicConfig } from '../../core/config.ts'
import type { OffsetSpec, PartitionState } from '../../core/broker.ts'
import { PartitionLog } from '../../core/log/partition-log.ts'
import { DsPartition, type DsAnswer, type DsOp } from '../ds/partition-face.ts'
import type { EdgelogEnv } from '../env.ts'
import { envelope, settingsOf, type Result } from '../rpc.ts'
import { Activity, type ActivitySnapshot } from '../wait/activity.ts'
import { WatchHub } from '../wait/hub.ts'
import { WATCH_HEADER, type WatchRequest } from '../wait/protocol.ts'
import { Tiering, type TierFault, type TierStatus } from './tiering.ts'
import { LogStartLeases, type LogStartLease } from './log-start-lease.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { ReplicaHost, type ReplicaWatch } from '../replication/host.ts'
import type { ReplicaCall } from '../replication/protocol.ts'

/**
 * What every request tells the partition about itself. The Worker has it from the controller's
 * topic metadata (cached briefly); the object keeps the newest config it has seen (by
 * `configVersion`, which the controller raises on every alter), and the controller also pushes
 * a new config here at once when it changes.
 */
export interface PartitionTarget {
  /** `${topicId}/${partition}`: the object's name and the PartitionLog's stream. */
  stream: string
  topic: string
  partition: number
  config: TopicConfig
  configVersion: number
  /** The topic is a replica of another deployment's (MirrorMaker): only its follower writes. */
  replica?: boolean
  /** A replicated topic (replication factor > 1): the partition lives in replica objects (worker/replication/). */
  replication?: PartitionAssignment
}

export interface AppendOutcome {
  baseOffset: number
  logAppendTime: number
  error?: { code: string; message: string }
}

export interface FetchOutcome {
  /** The batches, concatenated as stored (Kafka's fetch response records field). */
  bytes: Uint8Array
  batchCount: number
  highWatermark: number
  logStartOffset: number
  /** read_committed only: the end it read to, and the aborted transactions in what it read. */
  lastStableOffset?: number
  abortedTransactions?: Array<{ producerId: number; firstOffset: number }>
}

/** A parked fetch never waits longer than this (LocalBroker's limit too). */
export const MAX_FETCH_WAIT_MS = 60_000

const INFO_KEY = 'edge/partition'
const DROPPED_KEY = 'edge/dropped'
/** Until when cached reads may hold leases on the log start granted by this object (log-start-lease.ts). */
const LEASE_KEY = 'edge/lease-until'

/**
 * One topic partition: its single writer (offsets are assigned here, one request at a time,
 * as by a Kafka partition leader), over the object's own SQLite storage. Waiting readers hold
 * hibernatable watch WebSockets (worker/wait/), not requests. Retention, compaction and the
 * move of sealed segments to R2 (tiering.ts) run from an alarm every
 * `log.retention.check.interval.ms`; what raises the log start waits out the Worker's cache
 * leases (log-start-lease.ts). A dropped partition (topic deleted) answers
 * UNKNOWN_TOPIC_OR_PARTITION for ever, so a Worker with stale metadata cannot write into it.
 */
export class PartitionObject extends DurableObject<EdgelogEnv> {
  readonly storage: SqliteStorage
  private info: PartitionTarget | undefined
  private log: Promise<PartitionLog> | undefined
  private dropped: boolean | undefined
  private alarmArmed = false
  private dsFace: DsPartition | undefined
  private readonly activityOf: Activity
  private readonly watchers: WatchHub
  /** Tiered storage (KIP-405): sealed segments past local retention move to R2 (tiering.ts). */
  readonly tiering: Tiering
  /** Leases on the log start for the Worker's cached reads: what may raise it waits them out (log-start-lease.ts). */
  private readonly leases: LogStartLeases
  /** Set when this object is one replica of a replicated partition (named `<stream>/r<b>`). */
  private replicaHost: ReplicaHost | undefined

  constructor(ctx: DurableObjectState, env: EdgelogEnv) {
    super(ctx, env)
    this.activityOf = new Activity(ctx.id.toString())
    this.storage = new SqliteStorage(ctx.storage, { remote: env.REMOTE_STORAGE, onRows: (read, written) => this.activityOf.rows(read, written) })
    this.tiering = new Tiering(this.storage, env.EDGELOG_TEST_FAULTS as TierFault)
    this.leases = LogStartLeases.forEnv(env, {
      load: () => this.storage.getMeta<number>(LEASE_KEY),
      save: (until) => this.storage.commit({ meta: [{ key: LEASE_KEY, value: until }] }),
    })
    this.watchers = new WatchHub(ctx, () => this.activityOf.pushed(1))
  }

  /**
   * A waiting Worker's watch (worker/wait/): a WebSocket accepted through the Hibernation API,
   * so that a long poll or a tail holds no request open here; `notifyWatchers` pushes new
   * batches to it after each change of the log.
   */
  override async fetch(request: Request): Promise<Response> {
    return this.activityOf.track(async () => {
      const result = await envelope(async () => {
        if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') throw new EdgelogError('INVALID_REQUEST', 'The partition object takes only watch WebSockets over fetch')
        let watch: { target: PartitionTarget; replica?: ReplicaWatch } & WatchRequest
        try {
          watch = JSON.parse(request.headers.get(WATCH_HEADER) ?? '')
        } catch {
          throw new EdgelogError('INVALID_REQUEST', `${WATCH_HEADER} must be JSON`)
        }
        // A replicated partition's leader (worker/replication/face.ts): its hub, bounded by the high watermark.
        if (watch.replica) {
          await this.assertLive()
          return this.host().watch(watch.replica, watch)
        }
        const log = await this.open(watch.target)
        // A Durable Streams reader that opened its watch just after the stream closed learns it at once.
        const ready = watch.ds === true && await (this.dsFace ??= new DsPartition(this.storage)).settled(Date.now())
        return this.watchers.accept(log, {
          offset: watch.offset, maxBytes: watch.maxBytes, minBytes: Math.max(1, Number(watch.minBytes) || 1), mode: watch.mode === 'stream' ? 'stream' : 'once',
        }, { ready })
      })
      if (result.ok) return result.value
      return Response.json(result, { status: 400 })
    })
  }

  /** Hibernatable WebSocket events: watchers send nothing that needs an answer. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    await this.activityOf.track(async () => {
      try { ws.close(code === 1005 || code === 1006 ? 1000 : code, 'closed') } catch { /* already closed */ }
    })
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    try { ws.close(1011, 'error') } catch { /* already closed */ }
  }

  /** The object's own accounting (requests, busy time, watchers): tests, benchmarks, docs/scaling.md. */
  activity(): ActivitySnapshot {
    this.storage.rows() // counts the statements of the requests before this one
    return this.activityOf.snapshot(this.watchers.size)
  }

  /** Pushes new batches to the watchers after a change of the log (never fails the request). */
  private async notifyWatchers(): Promise<void> {
    const log = this.log
    if (!log || this.watchers.size === 0) return
    try {
      await this.watchers.notify(await log)
    } catch { /* a watcher that missed a push is told again on the next one, or times out and fetches */ }
  }

  produce(target: PartitionTarget, batches: Uint8Array[], acks: -1 | 0 | 1): Promise<Result<{ results: AppendOutcome[]; logStartOffset: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      if (target?.replica) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Topic '${target.topic}' is a replica: its records come from the deployment it mirrors`)
      const log = await this.open(target)
      // All handed to the log at once, in order: it checks them in that order and commits the
      // valid ones together (group commit: one SQLite transaction), each answered on its own.
      const settled = await Promise.allSettled(batches.map((batch) => log.append(batch, { durability: 'relaxed' })))
      const results: AppendOutcome[] = []
      let appended = false
      for (const s of settled) {
        if (s.status === 'fulfilled') {
          results.push({ baseOffset: s.value.baseOffset, logAppendTime: s.value.logAppendTime })
          appended = true
        } else if (s.reason instanceof EdgelogError) {
          results.push({ baseOffset: -1, logAppendTime: -1, error: { code: s.reason.code, message: s.reason.message } })
        } else {
          throw s.reason
        }
      }
      // acks=all: answer once every write above is on disk. The object's output gate already
      // holds the answer back until then (a Durable Object sends nothing while a write it made is
      // unconfirmed); the explicit sync() says so in the code and costs one wait per request,
      // not one per batch. acks=1 and 0 rely on the output gate alone.
      if (appended && acks === -1) await syncStorage(this.ctx.storage)
      await this.armAlarm()
      if (appended) await this.notifyWatchers()
      return { results, logStartOffset: log.logStartOffset }
    }))
  }

  fetchBatches(target: PartitionTarget, req: { offset: number; maxBytes: number; maxWaitMs?: number; minBytes?: number; isolationLevel?: 0 | 1 }): Promise<Result<FetchOutcome>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      const isolation = req.isolationLevel === 1 ? 'read_committed' : 'read_uncommitted'
      let read = await log.read(req.offset, req.maxBytes, undefined, isolation)
      const maxWait = Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS)
      const minBytes = Math.max(1, Number(req.minBytes) || 1)
      let size = 0
      for (const b of read.batches) size += b.bytes.byteLength
      if (maxWait > 0 && size < minBytes) {
        // The Worker's routes wait outside (worker/wait/); kept here for callers that ask for it,
        // and for read_committed, whose end (the last stable offset) only the log knows.
        this.activityOf.parked()
        await log.waitForData(req.offset, maxWait, minBytes, undefined, isolation)
        await this.assertLive()
        read = await log.read(req.offset, req.maxBytes, undefined, isolation)
      }
      const parts = read.batches.map((b) => b.bytes)
      const committed = isolation === 'read_committed' ? { lastStableOffset: read.lastStableOffset, abortedTransactions: read.abortedTransactions ?? [] } : {}
      return { bytes: concatBytes(parts), batchCount: parts.length, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset, ...committed }
    }))
  }

  /** The transaction coordinator's WriteTxnMarkers (worker/objects/transaction.ts): a no-op for a transaction already ended here. */
  writeMarker(target: PartitionTarget, marker: { producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch?: number }): Promise<Result<void>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      const before = log.highWatermark
      await log.writeMarker(marker)
      await syncStorage(this.ctx.storage)
      // A marker moves the last stable offset: read_committed readers parked here re-read.
      if (log.highWatermark !== before) await this.notifyWatchers()
    }))
  }

  /**
   * A fetch that says whether its answer can never change (worker/cache.ts): when `offset`
   * lies in a sealed segment (not the active one) of a topic that is never compacted, the
   * answer stops at that segment's end, and `sealed` gives the segment. Otherwise the same
   * answer as `fetchBatches` without waiting, and no `sealed`.
   */
  readCacheable(target: PartitionTarget, req: { offset: number; maxBytes: number }): Promise<Result<FetchOutcome & { sealed?: { baseOffset: number; endOffset: number; maxTimestamp: number }; lease?: LogStartLease }>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      const read = await log.read(req.offset, req.maxBytes)
      const lease = await this.leases.grant(read.logStartOffset)
      const answer = (batches: typeof read.batches) => {
        const parts = batches.map((b) => b.bytes)
        return { bytes: concatBytes(parts), batchCount: parts.length, highWatermark: read.highWatermark, logStartOffset: read.logStartOffset, ...(lease ? { lease } : {}) }
      }
      const policy = String(this.info?.config?.['cleanup.policy'] ?? target.config['cleanup.policy'])
      if (policy.includes('compact') || read.batches.length === 0) return answer(read.batches)
      const found = log.segmentOf(req.offset)
      if (!found || found.active) return answer(read.batches)
      const { segment } = found
      const inside = read.batches.filter((b) => b.baseOffset < segment.endOffset)
      return { ...answer(inside), sealed: { baseOffset: segment.baseOffset, endOffset: segment.endOffset, maxTimestamp: segment.maxTimestamp } }
    }))
  }

  /** The partition as a Durable Streams stream (worker/ds/partition-face.ts, docs/durable-streams.md). */
  ds(target: PartitionTarget, op: DsOp): Promise<Result<DsAnswer>> {
    return this.activityOf.track(() => envelope(async () => {
      if (target?.replica) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Topic '${target.topic}' is a replica`)
      const log = await this.open(target)
      this.dsFace ??= new DsPartition(this.storage)
      const before = log.highWatermark
      const answer = await this.dsFace.handle(log, op)
      if (log.highWatermark !== before) await this.notifyWatchers()
      // A close without data, a deletion: readers waiting in Workers (worker/ds/wait.ts) read again.
      else if (op?.op !== 'read' && op?.op !== 'head') this.watchers.nudge(log)
      return answer
    }))
  }

  /** A follower's append (MirrorMaker): the leader's batches at their offsets (PartitionLog.replicate). */
  replicate(target: PartitionTarget, batches: Uint8Array[], leader: { logStartOffset: number; highWatermark: number }): Promise<Result<{ highWatermark: number; appended: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      if (!target?.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${target?.topic}' is not a replica`)
      const result = await (await this.open(target)).replicate(batches, leader)
      if (result.appended > 0) await syncStorage(this.ctx.storage)
      await this.armAlarm()
      if (result.appended > 0) await this.notifyWatchers()
      return result
    }))
  }

  /** The leader's retention passed the replica: empty it and restart at the leader's log start. */
  resetReplica(target: PartitionTarget, logStartOffset: number, highWatermark: number): Promise<Result<void>> {
    return this.activityOf.track(() => envelope(async () => {
      if (!target?.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${target?.topic}' is not a replica`)
      const log = await this.open(target)
      await this.leases.exclusive(() => log.resetReplica(logStartOffset, highWatermark))
      await syncStorage(this.ctx.storage)
      await this.notifyWatchers()
    }))
  }

  replicaStatus(target: PartitionTarget): Promise<Result<{ logStartOffset: number; highWatermark: number; leaderLogStartOffset: number; leaderHighWatermark: number; syncedAt: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      const position = await log.replicaPosition()
      return {
        logStartOffset: log.logStartOffset, highWatermark: log.highWatermark,
        leaderLogStartOffset: position?.leaderLogStartOffset ?? -1, leaderHighWatermark: position?.leaderHighWatermark ?? -1, syncedAt: position?.syncedAt ?? -1,
      }
    }))
  }

  listOffsets(target: PartitionTarget, spec: OffsetSpec, isolationLevel?: 0 | 1): Promise<Result<{ offset: number; timestamp: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      // A read_committed reader starting at the end starts at the last stable offset (Kafka's ListOffsets).
      if (spec === 'latest' && isolationLevel === 1) return { offset: log.lastStableOffset, timestamp: -1 }
      return log.offsetForTime(spec)
    }))
  }

  /**
   * Kafka's DeleteRecords (admin.deleteTopicRecords, POST /v1/topics/:topic/delete-records): the
   * log starts at `offset` (-1: the high watermark), through the same PartitionLog method as in
   * process; durable before the answer.
   */
  deleteRecords(target: PartitionTarget, offset: number): Promise<Result<{ lowWatermark: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      if (target?.replica) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Topic '${target.topic}' is a replica: delete records in the deployment it mirrors`)
      if (!String(target.config['cleanup.policy']).includes('delete')) {
        throw new EdgelogError('POLICY_VIOLATION', `Records of topic '${target.topic}' cannot be deleted: its cleanup.policy is compact only`)
      }
      const log = await this.open(target)
      const before = log.logStartOffset
      const { logStartOffset } = await this.leases.exclusive(() => log.deleteRecordsBefore(offset === -1 ? log.highWatermark : offset))
      if (logStartOffset !== before) await syncStorage(this.ctx.storage)
      return { lowWatermark: logStartOffset }
    }))
  }

  state(target: PartitionTarget): Promise<Result<PartitionState>> {
    return this.activityOf.track(() => envelope(async () => {
      const { stream: _stream, ...state } = (await this.open(target)).state()
      return state
    }))
  }

  maintain(target: PartitionTarget, force: boolean): Promise<Result<{ deletedSegments: number; compactedSegments: number; tieredBatches: number }>> {
    return this.activityOf.track(() => envelope(async () => {
      const log = await this.open(target)
      const result = await this.leases.exclusive(() => log.maintain({ forceCompaction: force }))
      await this.notifyWatchers()
      return { ...result, tieredBatches: await this.tiering.run(log, this.info?.config ?? target.config, Date.now()) }
    }))
  }

  /** Where the partition's segments are: SQLite, R2, orphan files awaiting the sweep (GET …/tiers). */
  tiers(target: PartitionTarget, listObjects: boolean): Promise<Result<TierStatus>> {
    return this.activityOf.track(() => envelope(async () => this.tiering.status(await this.open(target), this.info?.config ?? target.config, listObjects)))
  }

  /** The controller's push of a new topic config (alterConfigs). */
  configure(target: PartitionTarget): Promise<Result<void>> {
    return this.activityOf.track(() => envelope(async () => { await this.open(target) }))
  }

  /** The topic was deleted: remove every batch and metadata row, and refuse every later request. */
  drop(stream: string): Promise<Result<void>> {
    // Cached reads of this partition stop before its data goes (log-start-lease.ts).
    return this.activityOf.track(() => envelope(() => this.leases.exclusive(async () => {
      const log = this.log
      this.log = undefined
      if (log) (await log.catch(() => undefined))?.close()
      await this.storage.commit({
        deleteRanges: [{ stream, fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER }],
        deleteMetaPrefixes: [`head/${stream}`, `seg/${stream}/`, `pid/${stream}/`, `replica/${stream}`, INFO_KEY],
        meta: [{ key: DROPPED_KEY, value: true }],
        durability: 'strict',
      })
      this.dropped = true
      this.info = undefined
      await this.ctx.storage.deleteAlarm()
      this.watchers.failAll('UNKNOWN_TOPIC_OR_PARTITION', 'This partition was deleted with its topic')
    })))
  }

  private host(): ReplicaHost {
    return (this.replicaHost ??= new ReplicaHost(this.ctx, this.env, this.storage, this.watchers))
  }

  /** Edge replication (worker/replication/host.ts): this object as one replica of a replicated partition. */
  replica(call: ReplicaCall): Promise<Result<unknown>> {
    return this.activityOf.track(() => envelope(async () => {
      await this.assertLive()
      return this.host().handle(call)
    }))
  }

  /** Retention and compaction on their own, every log.retention.check.interval.ms while there is data. */
  override async alarm(): Promise<void> {
    await this.activityOf.track(async () => {
      this.alarmArmed = false
      if (await this.isDropped()) return
      const info = this.info ?? (await this.storage.getMeta<PartitionTarget>(INFO_KEY))
      // A replica object has no partition info: its alarm retries followers (worker/replication/).
      if (!info) return await this.host().alarm()
      const log = await this.open(info)
      await this.leases.exclusive(() => log.maintain())
      await this.notifyWatchers()
      // A failed move leaves its local rows served and is tried again on the next alarm.
      await this.tiering.run(log, this.info?.config ?? info.config, Date.now()).catch(() => 0)
      if (log.state().sizeBytes > 0) await this.armAlarm()
    })
  }

  private async armAlarm(): Promise<void> {
    if (this.alarmArmed) return
    const interval = settingsOf(this.env)['log.retention.check.interval.ms']
    if (!(interval > 0)) return
    this.alarmArmed = true
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + interval)
  }

  private async isDropped(): Promise<boolean> {
    if (this.dropped === undefined) this.dropped = (await this.storage.getMeta<boolean>(DROPPED_KEY)) === true
    return this.dropped
  }

  private async assertLive(): Promise<void> {
    if (await this.isDropped()) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', 'This partition was deleted with its topic')
  }

  private async open(target: PartitionTarget): Promise<PartitionLog> {
    if (!target || typeof target.stream !== 'string') throw new EdgelogError('INVALID_REQUEST', 'partition target missing')
    await this.assertLive()
    if (!this.info) this.info = await this.storage.getMeta<PartitionTarget>(INFO_KEY)
    if (this.info && this.info.stream !== target.stream) {
      throw new EdgelogError('UNKNOWN_SERVER_ERROR', `Partition object of ${this.info.stream} asked for ${target.stream}`)
    }
    if (!this.info || target.configVersion > this.info.configVersion) {
      const info: PartitionTarget = { stream: target.stream, topic: target.topic, partition: target.partition, config: target.config, configVersion: target.configVersion }
      await this.storage.commit({ meta: [{ key: INFO_KEY, value: info }] })
      this.info = info
    }
    if (!this.log) {
      const fallback = target.config
      const log = PartitionLog.open({ storage: this.storage, stream: target.stream, config: () => this.info?.config ?? fallback, label: `${target.topic}-${target.partition}` })
      this.log = log
      log.catch(() => { if (this.log === log) this.log = undefined })
    }
    return this.log
  }
}

async function syncStorage(storage: DurableObjectStorage): Promise<void> {
  try {
    await storage.sync()
  } catch (error) {
    throw translateStorageError(error)
  }
}

