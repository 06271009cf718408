/**
 * One replica of a replicated partition, inside its own PartitionObject (named
 * `<topicId>/<p>/r<b>`, placement.ts). It runs core/replication's `PartitionReplica` over the
 * object's SQLite storage — the same leader/follower state, epoch cache, KIP-101 truncation,
 * high watermark, ISR proposals and acks=all rules as the simulated cluster — with one
 * difference of transport: the leader pushes to its followers on append (leader-sync.ts)
 * instead of followers pulling, so that an idle partition's objects all sleep.
 */
import { EdgelogError } from '../../core/errors.ts'
import { PartitionLog } from '../../core/log/partition-log.ts'
import { streamId } from '../../core/log/keys.ts'
import { PartitionReplica } from '../../core/replication/replica.ts'
import type { BrokerId, PartitionAssignment, ReplicationEvent, Transport } from '../../core/replication/types.ts'
import type { SqliteStorage } from '../../adapters/durable-object/index.ts'
import type { EdgelogEnv } from '../env.ts'
import { settingsOf } from '../rpc.ts'
import { callController, type PushAnswer, type PushRequest, type ReplicaAnswers, type ReplicaCall } from './protocol.ts'
import { LeaderSync } from './leader-sync.ts'
import type { WatchHub } from '../wait/hub.ts'
import { replicaSource, ReplicaWatchers } from './watch.ts'
import type { WatchRequest } from '../wait/protocol.ts'

/** Who this object is and the newest assignment it has taken (written on changes of it only). */
const REPLICA_KEY = 'edge/replica'
/**
 * Tests only: 'unreachable' refuses every call and makes none (a network partition around the
 * replica); 'isolated' still serves Workers but reaches neither its peers nor the controller
 * (Kafka's leader cut off from the rest of the cluster).
 */
const FAULT_KEY = 'edge/replica-fault'
/** Reassigned away at this partition epoch: older assignments (a stale leader's push) must not bring the replica back. */
const STOPPED_KEY = 'edge/replica-stopped'

interface Saved { broker: BrokerId; assignment: PartitionAssignment }

export type ReplicaFault = 'unreachable' | 'isolated'

/** A Worker's watch of a replicated partition (worker/wait/), addressed to the replica it believes leads. */
export interface ReplicaWatch { self: BrokerId; assignment: PartitionAssignment }

export class ReplicaHost {
  private replica: PartitionReplica | undefined
  private opening: Promise<PartitionReplica> | undefined
  private saved: Saved | undefined
  private fault: ReplicaFault | null | undefined
  /** Follower: the leader epoch it has truncated in (KIP-101); pushes carry data only after that. */
  private syncedEpoch = -2
  private pushQueue: Promise<unknown> = Promise.resolve()
  private sync: LeaderSync | undefined
  /** An alarm for retention is set (once per wake, as a factor-1 partition object does). */
  private retentionArmed = false
  private readonly pushes: ReplicaWatchers | undefined
  readonly events: ReplicationEvent[] = []

  /** `watchers`: the object's hibernatable watch sockets; the leader pushes to them as its high watermark moves. */
  constructor(private readonly ctx: DurableObjectState, private readonly env: EdgelogEnv, private readonly storage: SqliteStorage, private readonly watchers?: WatchHub) {
    this.pushes = watchers && new ReplicaWatchers(watchers)
  }

  /**
   * A long poll or tail of the leader (worker/wait/): accepted through the Hibernation API, so
   * it holds no request open here and the leader may sleep; pushed to when the high watermark
   * moves (an append committed by the ISR, or a follower's answer). Refused retriable when this
   * replica does not lead at the Worker's epoch (its metadata is stale).
   */
  async watch(w: ReplicaWatch, request: WatchRequest): Promise<Response> {
    if (!this.watchers) throw new EdgelogError('UNKNOWN_SERVER_ERROR', 'This replica object has no watch hub')
    await this.assertReachable()
    const replica = await this.open(w.self, w.assignment)
    const { role, leaderEpoch } = replica.status()
    if (role !== 'leader' || leaderEpoch !== w.assignment.leaderEpoch) {
      throw new EdgelogError('LEADER_NOT_AVAILABLE', `${replica.label} is not the leader at epoch ${w.assignment.leaderEpoch} (it is ${role} at ${leaderEpoch})`)
    }
    // A leader that just woke knows its high watermark only after a first push round.
    await this.sync?.settled()
    return this.watchers.accept(replicaSource(replica), {
      offset: request.offset, maxBytes: request.maxBytes, minBytes: Math.max(1, Number(request.minBytes) || 1), mode: request.mode === 'stream' ? 'stream' : 'once',
    })
  }

  async handle(call: ReplicaCall): Promise<unknown> {
    if (call?.op === 'fault') return this.setFault(call.fault)
    await this.assertReachable()
    switch (call?.op) {
      case 'heartbeat': return { ok: true }
      case 'assign': return (await this.open(call.self, call.assignment)).status()
      case 'produce': return this.produce(call)
      case 'push': return this.push(call.self, call.push)
      case 'read': {
        const replica = await this.open(call.self, call.assignment)
        // A leader that just woke knows its followers' ends only after a first push round.
        await this.sync?.settled()
        return replica.read({ topicId: call.assignment.topicId, partition: call.assignment.partition, offset: call.offset, maxBytes: call.maxBytes, maxWaitMs: call.maxWaitMs, isolationLevel: call.isolationLevel })
      }
      // With this replica's recent reports (an unclean election, truncated records: never silent).
      case 'status': return { ...(await this.open(call.self, call.assignment)).status(), events: [...this.events] }
      case 'listOffset': {
        const replica = await this.open(call.self, call.assignment)
        await this.sync?.settled()
        return replica.offsetFor(call.spec, call.isolationLevel === 1 ? 1 : 0)
      }
      case 'writeMarker': {
        const replica = await this.open(call.self, call.assignment)
        await this.sync?.touchCaughtUp()
        await replica.writeMarker(call.marker, call.timeoutMs)
        return { ok: true }
      }
      case 'deleteRecords': return this.deleteRecords(call)
      case 'stop': return this.stop(call)
      case 'maintain': {
        const { deletedSegments, compactedSegments } = await (await this.open(call.self, call.assignment)).log.maintain()
        return { deletedSegments, compactedSegments }
      }
      default: throw new EdgelogError('INVALID_REQUEST', `Unknown replica call ${JSON.stringify((call as { op?: unknown })?.op)}`)
    }
  }

  /**
   * The object's alarm: a leader with a follower behind retries it and shrinks the ISR of
   * laggards; every replica runs retention and compaction on its own log (as Kafka's do), every
   * log.retention.check.interval.ms while it holds data.
   */
  async alarm(): Promise<void> {
    this.retentionArmed = false
    const saved = this.saved ?? await this.storage.getMeta<Saved>(REPLICA_KEY)
    if (!saved || await this.cutOff()) return
    const replica = await this.open(saved.broker)
    await this.sync?.onAlarm()
    await replica.log.maintain()
    if (replica.log.state().sizeBytes > 0) await this.armRetention()
  }

  private async armRetention(): Promise<void> {
    const interval = settingsOf(this.env)['log.retention.check.interval.ms']
    if (this.retentionArmed || !(interval > 0)) return
    this.retentionArmed = true
    const at = Date.now() + interval
    const current = await this.ctx.storage.getAlarm()
    if (current === null || current > at) await this.ctx.storage.setAlarm(at)
  }

  private async produce(call: Extract<ReplicaCall, { op: 'produce' }>): Promise<ReplicaAnswers['produce']> {
    const replica = await this.open(call.self, call.assignment)
    // Followers idle but caught up count as caught up now (an idle partition must not shrink its ISR).
    await this.sync?.touchCaughtUp()
    const outcomes = await replica.produce({ topicId: call.assignment.topicId, partition: call.assignment.partition, acks: call.acks, batches: call.batches, timeoutMs: call.timeoutMs })
    if (outcomes.some((o) => !('error' in o))) await this.armRetention()
    return outcomes
  }

  /** A follower takes the leader's push: fenced if from an older epoch, truncated once per epoch, appended at its offsets. */
  private push(self: BrokerId, req: PushRequest): Promise<PushAnswer> {
    const run = this.pushQueue.then(async () => {
      const replica = await this.open(self, req.assignment)
      const { role, leaderEpoch } = replica.status()
      if (req.assignment.leaderEpoch < leaderEpoch) {
        throw new EdgelogError('FENCED_LEADER_EPOCH', `${replica.label}: a push of leader epoch ${req.assignment.leaderEpoch}, older than ${leaderEpoch}`)
      }
      if (role !== 'follower' || req.assignment.leader === self) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${replica.label} is not a follower at epoch ${leaderEpoch}`)
      const answer = (): PushAnswer => ({ logEndOffset: replica.logEndOffset, latestEpoch: replica.latestEpoch, synced: this.syncedEpoch === leaderEpoch })
      if (this.syncedEpoch !== leaderEpoch) {
        const latest = replica.latestEpoch
        if (latest >= 0) {
          if (req.epochEnd?.forEpoch !== latest) return answer()
          // KIP-101, with KIP-279's rule when the leader lacks our epoch: as FollowerFetcher.truncateToLeader.
          const { epoch, endOffset } = req.epochEnd.answer
          const target = epoch === latest ? endOffset : Math.min(endOffset, replica.localEndOffsetFor(epoch))
          if (target < replica.logEndOffset) await replica.truncateTo(target)
        }
        this.syncedEpoch = leaderEpoch
      }
      if (req.reset && replica.logEndOffset < req.logStartOffset) await replica.resetTo(req.logStartOffset, req.highWatermark)
      else if (req.truncateTo !== undefined && req.truncateTo < replica.logEndOffset) {
        await replica.truncateTo(req.truncateTo)
        this.syncedEpoch = -2 // then the epochs are checked again, as the fetcher does
      } else if (req.from === replica.logEndOffset) {
        await replica.appendFromLeader({ batches: req.batches, highWatermark: req.highWatermark, logStartOffset: req.logStartOffset, logEndOffset: req.logEndOffset })
        if (req.batches.length > 0) await this.armRetention()
        // The leader's DeleteRecords (Kafka's followers take the leader's log start from each fetch).
        const start = Math.min(req.logStartOffset, replica.logEndOffset)
        if (start > replica.log.logStartOffset) await replica.log.deleteRecordsBefore(start)
      }
      return answer()
    })
    this.pushQueue = run.catch(() => undefined)
    return run
  }

  /**
   * The replica, opened over this object's storage on first use, taking `assignment` when it is
   * newer than what it has (the controller's decision, relayed by a Worker or the leader).
   */
  private async open(self: BrokerId, assignment?: PartitionAssignment): Promise<PartitionReplica> {
    if (!this.replica) {
      this.opening ??= this.load(self, assignment).catch((error) => { this.opening = undefined; throw error })
      await this.opening
    }
    if (assignment) await this.adopt(assignment)
    return this.replica!
  }

  private async load(self: BrokerId, assignment: PartitionAssignment | undefined): Promise<PartitionReplica> {
    const saved = await this.storage.getMeta<Saved>(REPLICA_KEY)
    if (saved && saved.broker !== self) throw new EdgelogError('UNKNOWN_SERVER_ERROR', `Replica object of broker ${saved.broker} asked as broker ${self}`)
    const first = saved?.assignment ?? assignment
    if (!first) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Replica ${self} has no assignment yet`)
    if (!saved) {
      // A fresh object (or one reassigned away) starts only from an assignment that names it, newer than its removal.
      const stopped = await this.storage.getMeta<number>(STOPPED_KEY)
      if (!first.replicas.includes(self) || (stopped !== undefined && first.partitionEpoch <= stopped)) {
        throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Broker ${self} is not a replica of ${first.topic}-${first.partition} (replicas ${JSON.stringify(first.replicas)}, partition epoch ${first.partitionEpoch})`)
      }
    }
    this.saved = saved ?? { broker: self, assignment: first }
    const settings = settingsOf(this.env)
    const stream = streamId(first.topicId, first.partition)
    const log = await PartitionLog.open({
      storage: this.storage, stream, label: `${first.topic}-${first.partition}@${self}`,
      config: () => this.saved?.assignment.config ?? first.config,
      producerIdExpirationMs: settings['producer.id.expiration.ms'],
    })
    const replica = await PartitionReplica.open({
      broker: self, log, storage: this.storage, transport: this.transport(), topic: first.topic, now: Date.now,
      settings: { replicaLagTimeMaxMs: settings['replica.lag.time.max.ms'], fetchMaxWaitMs: 0, fetchMaxBytes: 1 << 20, fetchBackoffMs: 1_000 },
      events: (e) => this.report(e),
      hooks: { pushed: true, onAppend: () => this.sync?.pushAll(), onHighWatermark: () => { if (this.replica) this.pushes?.notify(this.replica) } },
    })
    if (!saved) await this.storage.commit({ meta: [{ key: REPLICA_KEY, value: this.saved }] })
    this.replica = replica
    await this.take(replica, this.saved.assignment, false)
    return replica
  }

  private async adopt(next: PartitionAssignment): Promise<void> {
    const current = this.saved!.assignment
    if (next.topicId !== current.topicId || next.partition !== current.partition) {
      throw new EdgelogError('UNKNOWN_SERVER_ERROR', `Replica of ${current.topicId}/${current.partition} asked for ${next.topicId}/${next.partition}`)
    }
    // Compared with what the replica applied (what was saved may be newer: saved before applying).
    const applied = this.replica!.currentAssignment ?? current
    if (next.partitionEpoch <= applied.partitionEpoch) return
    await this.take(this.replica!, next, true)
  }

  /** Applies an assignment; a leader (new, or just woken) starts its push state and a first round. */
  private async take(replica: PartitionReplica, a: PartitionAssignment, persist: boolean): Promise<void> {
    if (persist) await this.persisted(a)
    await replica.applyAssignment(a)
    const { role, leaderEpoch } = replica.status()
    if (role !== 'leader') {
      // No longer leading: its watchers fetch again through the new leader.
      if (this.sync) this.watchers?.closeAll()
      this.sync = undefined
      return
    }
    if (this.sync?.leaderEpoch === leaderEpoch) {
      const added = a.replicas.some((r) => !this.sync!.assignment.replicas.includes(r))
      this.sync.assignment = a
      // A reassignment added replicas: copy the log to them now (they join the ISR once caught up).
      if (added) void this.sync.pushAll()
      return
    }
    this.sync = new LeaderSync(replica, a, this.env, this.ctx, () => this.cutOff(), () => this.refresh())
    this.sync.pushAll()
  }

  /** A follower said this leader is fenced: take the controller's current assignment. */
  private async refresh(): Promise<void> {
    const a = this.saved!.assignment
    const next = await this.transport().controller().assignment({ topicId: a.topicId, partition: a.partition })
    if (next) await this.adopt(next)
  }

  private transport(): Transport {
    const controller = () => this.env.CONTROLLER.get(this.env.CONTROLLER.idFromName('controller'))
    const guarded = async <T>(call: () => Promise<T>): Promise<T> => {
      if (await this.cutOff()) throw new EdgelogError('NETWORK_EXCEPTION', 'This replica is cut off (test fault)', { retriable: true })
      return call()
    }
    return {
      broker: () => { throw new EdgelogError('INVALID_REQUEST', 'Edge followers are pushed to by their leader, never fetch') },
      // What the controller answers is persisted before the replica applies it: a leader that
      // restarts must never count a smaller ISR than the controller's (it would commit too early).
      controller: () => ({
        alterPartition: (req) => guarded(async () => this.persisted(await callController(controller(), { op: 'alterPartition', req }))),
        assignment: (req) => guarded(async () => {
          const a = await callController(controller(), { op: 'assignment', ...req })
          return a && this.persisted(a)
        }),
        assignments: () => Promise.reject(new EdgelogError('INVALID_REQUEST', 'Not used at the edge')),
      }),
    }
  }

  private async persisted(a: PartitionAssignment): Promise<PartitionAssignment> {
    const saved = this.saved
    if (saved && a.topicId === saved.assignment.topicId && a.partition === saved.assignment.partition && a.partitionEpoch > saved.assignment.partitionEpoch) {
      this.saved = { broker: saved.broker, assignment: a }
      await this.storage.commit({ meta: [{ key: REPLICA_KEY, value: this.saved }] })
    }
    return a
  }

  /** Never silent: kept for status, and logged (an unclean election or a truncation of committed records). */
  private report(event: ReplicationEvent): void {
    this.events.push(event)
    if (this.events.length > 20) this.events.shift()
    if (event.kind === 'unclean-leader-election' || event.kind === 'committed-records-truncated') console.warn('edgelog replication:', JSON.stringify(event))
  }

  /**
   * Kafka's DeleteRecords on the leader: the log start moves (not past the high watermark), and
   * the answer waits for a push round that carries it to the followers (Kafka answers once the
   * replicas' low watermark has it; an unreachable follower learns it when it is back).
   */
  private async deleteRecords(call: Extract<ReplicaCall, { op: 'deleteRecords' }>): Promise<ReplicaAnswers['deleteRecords']> {
    const replica = await this.open(call.self, call.assignment)
    if (replica.status().role !== 'leader') throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `${replica.label} is not the leader`)
    await this.sync?.settled()
    const config = replica.currentAssignment?.config ?? call.assignment.config
    if (!String(config['cleanup.policy']).includes('delete')) {
      throw new EdgelogError('POLICY_VIOLATION', `Records of topic '${call.assignment.topic}' cannot be deleted: its cleanup.policy is compact only`)
    }
    const offset = call.offset === -1 ? replica.highWatermark : call.offset
    if (offset > replica.highWatermark) {
      throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Cannot delete records before ${offset}: the high watermark of ${replica.label} is ${replica.highWatermark}`)
    }
    const { logStartOffset } = await replica.log.deleteRecordsBefore(offset)
    await this.sync?.logStartMoved()
    return { lowWatermark: logStartOffset }
  }

  /**
   * Reassigned away: the replica stops (a leader steps down first: it was told the new
   * assignment) and its rows are deleted; the object can serve the partition again only from a
   * newer assignment that names it (a later reassignment back).
   */
  private async stop(call: Extract<ReplicaCall, { op: 'stop' }>): Promise<ReplicaAnswers['stop']> {
    const saved = this.saved ?? await this.storage.getMeta<Saved>(REPLICA_KEY)
    if (saved && (saved.assignment.topicId !== call.topicId || saved.assignment.partition !== call.partition)) {
      throw new EdgelogError('UNKNOWN_SERVER_ERROR', `Replica of ${saved.assignment.topicId}/${saved.assignment.partition} asked to stop ${call.topicId}/${call.partition}`)
    }
    const current = this.replica?.currentAssignment ?? saved?.assignment
    if (current && current.partitionEpoch > call.partitionEpoch && current.replicas.includes(call.self)) return { ok: true } // reassigned back since
    const replica = this.replica
    this.replica = undefined
    this.opening = undefined
    this.sync = undefined
    this.saved = undefined
    this.watchers?.closeAll()
    await replica?.close()
    const stream = `${call.topicId}/${call.partition}`
    await this.storage.commit({
      deleteRanges: [{ stream, fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER }],
      deleteMetaPrefixes: [`head/${stream}`, `seg/${stream}/`, `pid/${stream}/`, `replication/${stream}`, `txnp/${stream}`, `abrt/${stream}`], // one stream per object: no prefix collision
      meta: [{ key: REPLICA_KEY, value: undefined }, { key: STOPPED_KEY, value: call.partitionEpoch }],
      durability: 'strict',
    })
    return { ok: true }
  }

  private async setFault(fault: ReplicaFault | null): Promise<{ fault: ReplicaFault | null }> {
    if (this.env.EDGELOG_TEST_REPLICA_FAULTS !== 'true') {
      throw new EdgelogError('INVALID_REQUEST', 'Replica faults are for tests only: set EDGELOG_TEST_REPLICA_FAULTS=true to allow them')
    }
    if (fault !== null && fault !== 'unreachable' && fault !== 'isolated') throw new EdgelogError('INVALID_REQUEST', `Unknown replica fault ${JSON.stringify(fault)}`)
    this.fault = fault
    await this.storage.commit({ meta: [{ key: FAULT_KEY, value: fault ?? undefined }] })
    return { fault }
  }

  private async faultNow(): Promise<ReplicaFault | null> {
    if (this.env.EDGELOG_TEST_REPLICA_FAULTS !== 'true') return null
    if (this.fault === undefined) this.fault = (await this.storage.getMeta<ReplicaFault>(FAULT_KEY)) ?? null
    return this.fault
  }

  /** Calls out of this replica fail (either fault). */
  private async cutOff(): Promise<boolean> {
    return (await this.faultNow()) !== null
  }

  private async assertReachable(): Promise<void> {
    if ((await this.faultNow()) === 'unreachable') throw new EdgelogError('NETWORK_EXCEPTION', 'Replica unreachable (test fault)', { retriable: true })
  }
}
