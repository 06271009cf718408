/**
 * What the Worker's routes call for a replicated partition, in place of the partition object's
 * stub (Cluster.onPartition hands this over when the target carries an assignment): the same
 * methods and answers, routed to the leader replica — produce, fetch (up to the high watermark
 * only), list offsets, state, maintenance — and, for the Worker's long polls and tails, the
 * leader's hibernatable watch sockets. A leader that cannot be reached is
 * reported to the controller, which checks and elects; the caller gets a retriable error and
 * fresh metadata next time. DeleteRecords and transaction markers go to the leader too, which
 * replicates them. Anything else a partition object does (Durable Streams, tiers, MirrorMaker)
 * is refused here with a typed error.
 */
import { concatBytes } from '../../core/codec/bytes.ts'
import { EdgelogError, errorFromJSON, isEdgelogError } from '../../core/errors.ts'
import type { OffsetSpec, PartitionState } from '../../core/broker.ts'
import type { PartitionAssignment, ReplicaReadResponse } from '../../core/replication/types.ts'
import type { Cluster } from '../cluster.ts'
import type { AppendOutcome, FetchOutcome, PartitionTarget } from '../objects/partition.ts'
import { MAX_FETCH_WAIT_MS } from '../objects/partition.ts'
import { envelope, type Result } from '../rpc.ts'
import { WATCH_HEADER, type WatchRequest } from '../wait/protocol.ts'
import { replicaLocations, replicaStub, streamOf } from './placement.ts'
import { nearestFollower } from './rack.ts'
import { callController, callReplica, type ReplicaAnswers, type ReplicaCall } from './protocol.ts'

/** Kafka's request.timeout.ms: how long acks=all waits for the ISR. */
const PRODUCE_TIMEOUT_MS = 30_000

type Call<K extends ReplicaCall['op']> = Extract<ReplicaCall, { op: K }>

/** A leader that moved: the client retries (Kafka's client refreshes its metadata), so answered LEADER_NOT_AVAILABLE. */
const ROUTING = new Set(['NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH'])

export class ReplicatedPartition {
  constructor(private readonly cluster: Cluster, private readonly a: PartitionAssignment, private readonly rack?: string) {}

  produce(target: PartitionTarget, batches: Uint8Array[], acks: -1 | 0 | 1): Promise<Result<{ results: AppendOutcome[]; logStartOffset: number }>> {
    return envelope(async () => {
      const outcomes = await this.onLeader({ op: 'produce', assignment: this.a, acks, batches, timeoutMs: PRODUCE_TIMEOUT_MS } as Omit<Call<'produce'>, 'self'>)
      let logStartOffset = -1
      const results = outcomes.map((o): AppendOutcome => {
        if ('error' in o) {
          if (!ROUTING.has(o.error.code)) return { baseOffset: -1, logAppendTime: -1, error: o.error }
          this.cluster.invalidate(target.topic)
          return { baseOffset: -1, logAppendTime: -1, error: { code: 'LEADER_NOT_AVAILABLE', message: `${target.topic}-${target.partition}: ${o.error.message}` } }
        }
        logStartOffset = o.logStartOffset
        return { baseOffset: o.baseOffset, logAppendTime: o.logAppendTime }
      })
      return { results, logStartOffset }
    })
  }

  fetchBatches(_target: PartitionTarget, req: { offset: number; maxBytes: number; maxWaitMs?: number; isolationLevel?: 0 | 1 }): Promise<Result<FetchOutcome>> {
    const isolationLevel = req.isolationLevel === 1 ? 1 : 0
    return envelope(async () => outcome(await this.nearRead(req.offset, req.maxBytes, Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS), isolationLevel)))
  }

  /** The transaction coordinator's marker: written by the leader at its epoch, answered once the ISR has it. */
  writeMarker(_target: PartitionTarget, marker: { producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch?: number }): Promise<Result<void>> {
    return envelope(async () => {
      await this.onLeader({ op: 'writeMarker', assignment: this.a, marker, timeoutMs: PRODUCE_TIMEOUT_MS } as Omit<Call<'writeMarker'>, 'self'>)
    })
  }

  /** Kafka's DeleteRecords: the leader moves its log start and pushes it to the followers. */
  deleteRecords(_target: PartitionTarget, offset: number): Promise<Result<{ lowWatermark: number }>> {
    return envelope(() => this.onLeader({ op: 'deleteRecords', assignment: this.a, offset } as Omit<Call<'deleteRecords'>, 'self'>))
  }

  /** Never cacheable: a replicated partition's reads are bounded by a high watermark the cache cannot follow. */
  readCacheable(_target: PartitionTarget, req: { offset: number; maxBytes: number }): Promise<Result<FetchOutcome>> {
    return envelope(async () => outcome(await this.nearRead(req.offset, req.maxBytes, 0)))
  }

  listOffsets(_target: PartitionTarget, spec: OffsetSpec, isolationLevel?: 0 | 1): Promise<Result<{ offset: number; timestamp: number }>> {
    return envelope(() => this.onLeader({ op: 'listOffset', assignment: this.a, spec, isolationLevel: isolationLevel === 1 ? 1 : 0 } as Omit<Call<'listOffset'>, 'self'>))
  }

  /** Kafka's describe: the leader's figures (another replica's when the leader is away), with Leader, Replicas, Isr. */
  state(): Promise<Result<PartitionState>> {
    return envelope(async () => {
      const order = this.a.leader >= 0 ? [this.a.leader, ...this.a.replicas.filter((r) => r !== this.a.leader)] : this.a.replicas
      let status: ReplicaAnswers['status'] | undefined
      const offline: number[] = []
      for (const b of order) {
        status = await callReplica(this.stub(b), { op: 'status', self: b, assignment: this.a }).catch(() => undefined)
        if (status) break
        offline.push(b)
      }
      return {
        partition: this.a.partition, logStartOffset: status?.logStartOffset ?? -1, highWatermark: status?.highWatermark ?? -1,
        sizeBytes: status?.sizeBytes ?? -1, segments: status?.segments ?? [], leader: this.a.leader, leaderEpoch: this.a.leaderEpoch,
        replicas: this.a.replicas, isr: this.a.isr, offlineReplicas: offline,
      }
    })
  }

  /** Every replica runs retention and compaction on its own log (as Kafka's do). */
  maintain(): Promise<Result<{ deletedSegments: number; compactedSegments: number; tieredBatches: number }>> {
    return envelope(async () => {
      const all = await Promise.allSettled(this.a.replicas.map((b) => callReplica(this.stub(b), { op: 'maintain', self: b, assignment: this.a })))
      const lead = all[this.a.replicas.indexOf(this.a.leader)]
      const r = lead?.status === 'fulfilled' ? lead.value : { deletedSegments: 0, compactedSegments: 0 }
      return { ...r, tieredBatches: 0 }
    })
  }

  /** A new config: the controller has told the leaders already. */
  configure(): Promise<Result<void>> {
    return envelope(async () => {})
  }

  /**
   * The Worker's watch (worker/wait/), sent on to the leader replica object, which accepts it
   * through the Hibernation API and pushes as its high watermark moves: a waiting reader keeps
   * no request open in the leader, which may sleep. A leader that cannot be reached is reported
   * (an election may follow); a refused watch (stale metadata) refreshes this Worker's view.
   */
  async fetch(url: string, init?: RequestInit): Promise<Response> {
    const headers = new Headers(init?.headers)
    const watch = JSON.parse(headers.get(WATCH_HEADER) ?? '{}') as WatchRequest
    if (this.a.leader < 0) await this.leaderUnreachable(new EdgelogError('LEADER_NOT_AVAILABLE', `${this.a.topic}-${this.a.partition} has no leader (no in-sync replica reachable)`))
    headers.set(WATCH_HEADER, JSON.stringify({ ...watch, replica: { self: this.a.leader, assignment: this.a } }))
    let response: Response
    try {
      response = await this.stub(this.a.leader).fetch(url, { ...init, headers })
    } catch (error) {
      await this.leaderUnreachable(new EdgelogError('NETWORK_EXCEPTION', `Replica ${this.a.leader} could not be reached: ${String(error)}`, { cause: error, retriable: true }))
    }
    if (!response!.webSocket) {
      this.cluster.invalidate(this.a.topic)
      // A leader that does not answer (a test fault here, a thrown call above) is reported, as a failed fetch would be.
      const body = await response!.clone().json().catch(() => undefined) as { error?: { code?: string; message?: string } } | undefined
      if (body?.error?.code === 'NETWORK_EXCEPTION') await this.leaderUnreachable(errorFromJSON(body.error))
    }
    return response!
  }

  /**
   * KIP-392: an in-sync follower in the reader's region answers with what it has below its own
   * high watermark; with nothing there (it hears of the newest commits with the next push), the leader
   * does, and may park the read.
   */
  private async nearRead(offset: number, maxBytes: number, maxWaitMs: number, isolationLevel: 0 | 1 = 0): Promise<ReplicaReadResponse> {
    const near = nearestFollower(this.a, replicaLocations(this.cluster.env), this.rack)
    if (near !== undefined) {
      // A follower's read_committed view is its own (it keeps the leader's transaction state from what it copied).
      const r = await callReplica(this.stub(near), { op: 'read', self: near, assignment: this.a, offset, maxBytes, maxWaitMs: 0, isolationLevel }).catch(() => undefined)
      if (r && r.batches.length > 0) return r
    }
    return this.read(offset, maxBytes, maxWaitMs, isolationLevel)
  }

  private read(offset: number, maxBytes: number, maxWaitMs: number, isolationLevel: 0 | 1 = 0): Promise<ReplicaReadResponse> {
    return this.onLeader({ op: 'read', assignment: this.a, offset, maxBytes, maxWaitMs, isolationLevel } as Omit<Call<'read'>, 'self'>)
  }

  /** A call to the leader; an unreachable (or absent) leader goes to the controller, which checks and elects. */
  private async onLeader<K extends 'produce' | 'read' | 'listOffset' | 'writeMarker' | 'deleteRecords'>(call: Omit<Call<K>, 'self'>): Promise<ReplicaAnswers[K]> {
    if (this.a.leader < 0) await this.leaderUnreachable(new EdgelogError('LEADER_NOT_AVAILABLE', `${this.a.topic}-${this.a.partition} has no leader (no in-sync replica reachable)`))
    try {
      return await callReplica(this.stub(this.a.leader), { ...call, self: this.a.leader } as Call<K>) as ReplicaAnswers[K]
    } catch (error) {
      if (isEdgelogError(error, 'NETWORK_EXCEPTION')) await this.leaderUnreachable(error)
      if (!isEdgelogError(error) || !ROUTING.has(error.code)) throw error
      this.cluster.invalidate(this.a.topic)
      throw new EdgelogError('LEADER_NOT_AVAILABLE', `${this.a.topic}-${this.a.partition}: ${error.message}`, { cause: error })
    }
  }

  private async leaderUnreachable(cause: EdgelogError): Promise<never> {
    this.cluster.invalidate(this.a.topic)
    const next = await callController(this.cluster.controller(), {
      op: 'leaderUnreachable', topicId: this.a.topicId, partition: this.a.partition, leader: this.a.leader, leaderEpoch: this.a.leaderEpoch,
    })
    // Retriable either way (LEADER_NOT_AVAILABLE, as ClusterBroker answers a moved leader): the
    // client asks again, and this Worker's next metadata names the new leader.
    if (next.leader >= 0 && next.leaderEpoch !== this.a.leaderEpoch) {
      throw new EdgelogError('LEADER_NOT_AVAILABLE', `${this.a.topic}-${this.a.partition}: replica ${this.a.leader} could not be reached; replica ${next.leader} leads now (epoch ${next.leaderEpoch})`, { cause })
    }
    if (next.leader < 0) throw new EdgelogError('LEADER_NOT_AVAILABLE', `${this.a.topic}-${this.a.partition} has no reachable in-sync replica`, { cause })
    throw cause
  }

  private stub(broker: number) {
    return replicaStub(this.cluster.env, streamOf(this.a), broker)
  }
}

function outcome(r: ReplicaReadResponse): FetchOutcome {
  const committed = r.lastStableOffset === undefined ? {} : { lastStableOffset: r.lastStableOffset, abortedTransactions: r.abortedTransactions ?? [] }
  return { bytes: concatBytes(r.batches), batchCount: r.batches.length, highWatermark: r.highWatermark, logStartOffset: r.logStartOffset, ...committed }
}

/** The face, with every method it does not have refused as unsupported (typed, never a TypeError). */
export function replicatedFace(cluster: Cluster, a: PartitionAssignment, rack?: string): unknown {
  const face = new ReplicatedPartition(cluster, a, rack)
  return new Proxy(face, {
    get(target, prop, receiver) {
      if (prop in target || typeof prop === 'symbol' || prop === 'then') return Reflect.get(target, prop, receiver)
      return async () => ({ ok: false, error: { code: 'UNSUPPORTED_VERSION', message: `${String(prop)} is not supported on replicated topics (replication factor > 1) yet` } })
    },
  })
}
