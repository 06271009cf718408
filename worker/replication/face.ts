/**
 * What the Worker's routes call for a replicated partition, in place of the partition object's
 * stub (Cluster.onPartition hands this over when the target carries an assignment): the same
 * methods and answers, routed to the leader replica — produce, fetch (up to the high watermark
 * only), list offsets, state, maintenance — and, for the Worker's long polls and tails, a
 * local watch socket fed by reads parked in the leader. A leader that cannot be reached is
 * reported to the controller, which checks and elects; the caller gets a retriable error and
 * fresh metadata next time. Anything else a partition object does (Durable Streams, tiers,
 * DeleteRecords, transaction markers, MirrorMaker) is refused here with a typed error.
 */
import { concatBytes } from '../../core/codec/bytes.ts'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { OffsetSpec, PartitionState } from '../../core/broker.ts'
import type { PartitionAssignment, ReplicaReadResponse } from '../../core/replication/types.ts'
import type { Cluster } from '../cluster.ts'
import type { AppendOutcome, FetchOutcome, PartitionTarget } from '../objects/partition.ts'
import { MAX_FETCH_WAIT_MS } from '../objects/partition.ts'
import { envelope, type Result } from '../rpc.ts'
import { encodeData, INLINE_MAX_BYTES, WATCH_HEADER, type WatchRequest } from '../wait/protocol.ts'
import { replicaLocations, replicaStub, streamOf } from './placement.ts'
import { nearestFollower } from './rack.ts'
import { callController, callReplica, type ReplicaAnswers, type ReplicaCall } from './protocol.ts'

/** Kafka's request.timeout.ms: how long acks=all waits for the ISR. */
const PRODUCE_TIMEOUT_MS = 30_000
/**
 * A parked read in the leader for a watch, re-armed while the watch lasts. Short: the leader
 * cannot know when the Worker gives up waiting, and an abandoned read keeps it awake this long.
 */
const WATCH_READ_MS = 5_000

type Call<K extends ReplicaCall['op']> = Extract<ReplicaCall, { op: K }>

/** A leader that moved: the client retries (Kafka's client refreshes its metadata), so answered LEADER_NOT_AVAILABLE. */
const ROUTING = new Set(['NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH'])

export class ReplicatedPartition {
  constructor(private readonly cluster: Cluster, private readonly a: PartitionAssignment, private readonly rack?: string) {}

  produce(target: PartitionTarget, batches: Uint8Array[], acks: -1 | 0 | 1): Promise<Result<{ results: AppendOutcome[]; logStartOffset: number }>> {
    return envelope(async () => {
      // Transaction markers cannot reach replica objects yet: a transactional batch is refused, never stored uncommittable.
      if (batches.some((b) => b instanceof Uint8Array && b.byteLength >= 23 && (b[22] & 0x10) !== 0)) {
        throw new EdgelogError('UNSUPPORTED_VERSION', `Transactions are not supported on replicated topics yet (${target.topic} has replication factor ${this.a.replicas.length})`)
      }
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

  fetchBatches(_target: PartitionTarget, req: { offset: number; maxBytes: number; maxWaitMs?: number }): Promise<Result<FetchOutcome>> {
    return envelope(async () => outcome(await this.nearRead(req.offset, req.maxBytes, Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS))))
  }

  /** Never cacheable: a replicated partition's reads are bounded by a high watermark the cache cannot follow. */
  readCacheable(_target: PartitionTarget, req: { offset: number; maxBytes: number }): Promise<Result<FetchOutcome>> {
    return envelope(async () => outcome(await this.nearRead(req.offset, req.maxBytes, 0)))
  }

  listOffsets(_target: PartitionTarget, spec: OffsetSpec): Promise<Result<{ offset: number; timestamp: number }>> {
    return envelope(() => this.onLeader({ op: 'listOffset', assignment: this.a, spec } as Omit<Call<'listOffset'>, 'self'>))
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
   * The Worker's watch (worker/wait/): a socket pair in this isolate, fed by reads parked in the
   * leader (each up to 5 s, re-armed while the socket is open), sent as the object's data frames.
   */
  async fetch(_url: string, init?: RequestInit): Promise<Response> {
    const watch = JSON.parse(new Headers(init?.headers).get(WATCH_HEADER) ?? '{}') as WatchRequest
    const pair = new WebSocketPair()
    const [client, server] = [pair[0], pair[1]]
    server.accept()
    let open = true
    server.addEventListener('close', () => { open = false })
    void (async () => {
      let offset = watch.offset
      try {
        while (open) {
          const r = await this.read(offset, watch.maxBytes, WATCH_READ_MS)
          if (!open) return
          if (r.batches.length === 0) continue
          const last = r.batches[r.batches.length - 1]
          const view = new DataView(last.buffer, last.byteOffset, last.byteLength)
          const next = Number(view.getBigInt64(0)) + view.getInt32(23) + 1
          const bytes = concatBytes(r.batches)
          // Over one message's limit: `ready`, and the Worker fetches (as the partition object does).
          if (bytes.byteLength > INLINE_MAX_BYTES) return server.send(JSON.stringify({ t: 'ready', hw: r.highWatermark, ls: r.logStartOffset }))
          server.send(encodeData({ t: 'data', from: offset, next, count: r.batches.length, hw: r.highWatermark, ls: r.logStartOffset }, bytes))
          if (watch.mode !== 'stream') return
          offset = next
        }
      } catch (error) {
        const e = isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', String(error))
        if (open) server.send(JSON.stringify({ t: 'error', code: e.code, message: e.message }))
      }
    })()
    return new Response(null, { status: 101, webSocket: client })
  }

  /**
   * KIP-392: an in-sync follower in the reader's region answers with what it has below its own
   * high watermark; with nothing there (it hears of the newest commits with the next push), the leader
   * does, and may park the read.
   */
  private async nearRead(offset: number, maxBytes: number, maxWaitMs: number): Promise<ReplicaReadResponse> {
    const near = nearestFollower(this.a, replicaLocations(this.cluster.env), this.rack)
    if (near !== undefined) {
      const r = await callReplica(this.stub(near), { op: 'read', self: near, assignment: this.a, offset, maxBytes, maxWaitMs: 0 }).catch(() => undefined)
      if (r && r.batches.length > 0) return r
    }
    return this.read(offset, maxBytes, maxWaitMs)
  }

  private read(offset: number, maxBytes: number, maxWaitMs: number): Promise<ReplicaReadResponse> {
    return this.onLeader({ op: 'read', assignment: this.a, offset, maxBytes, maxWaitMs } as Omit<Call<'read'>, 'self'>)
  }

  /** A call to the leader; an unreachable (or absent) leader goes to the controller, which checks and elects. */
  private async onLeader<K extends 'produce' | 'read' | 'listOffset'>(call: Omit<Call<K>, 'self'>): Promise<ReplicaAnswers[K]> {
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
  return { bytes: concatBytes(r.batches), batchCount: r.batches.length, highWatermark: r.highWatermark, logStartOffset: r.logStartOffset }
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
