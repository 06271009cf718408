/**
 * One broker of a replicated cluster: the replicas it holds, each over the broker's own
 * storage, answering its peers (fetches, OffsetsForLeaderEpoch), the controller (heartbeats,
 * assignments) and clients (produce, read) through `BrokerRpc`. At the edge this is what one
 * replica's Durable Object runs; in process the simulated network calls it.
 */
import { EdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { StorageAdapter } from '../storage.ts'
import { PartitionLog } from '../log/partition-log.ts'
import { keys, streamId } from '../log/keys.ts'
import { randomId } from '../log/topic-registry.ts'
import { PartitionReplica, type ReplicaSettings } from './replica.ts'
import type {
  BrokerId, BrokerRpc, EpochEndOffset, EpochEndOffsetRequest, EventSink, PartitionAssignment, ReplicaFetchRequest,
  ReplicaFetchResponse, ReplicaProduceOutcome, ReplicaProduceRequest, ReplicaReadRequest, ReplicaReadResponse, ReplicaStatus, Transport,
} from './types.ts'

export interface ReplicaNodeOptions {
  id: BrokerId
  storage: StorageAdapter
  transport: Transport
  settings: ReplicaSettings
  events: EventSink
  now?: () => number
  /** How often leaders check their followers' lag (Kafka: replica.lag.time.max.ms / 2). */
  tickMs?: number
}

export class ReplicaNode implements BrokerRpc {
  /** New on every start: the controller notices a restart it did not see as a failure. */
  readonly incarnation = randomId()
  readonly id: BrokerId
  private readonly replicas = new Map<string, Promise<PartitionReplica>>()
  private readonly configs = new Map<string, TopicConfig>()
  private readonly timer: ReturnType<typeof setInterval>
  private readonly now: () => number
  private closed = false

  constructor(private readonly options: ReplicaNodeOptions) {
    this.id = options.id
    this.now = options.now ?? Date.now
    this.timer = setInterval(() => { void this.tick() }, options.tickMs ?? Math.max(1, Math.floor(options.settings.replicaLagTimeMaxMs / 2)))
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  async heartbeat(): Promise<{ incarnation: string }> {
    this.assertOpen()
    return { incarnation: this.incarnation }
  }

  async applyAssignments(assignments: PartitionAssignment[]): Promise<void> {
    this.assertOpen()
    await Promise.all(assignments.map(async (a) => {
      if (!a.replicas.includes(this.id)) return
      this.configs.set(a.topicId, a.config)
      const replica = await this.replica(a.topicId, a.partition, a.topic)
      await replica.applyAssignment(a)
    }))
  }

  async replicaFetch(req: ReplicaFetchRequest): Promise<ReplicaFetchResponse> {
    return (await this.hosted(req.topicId, req.partition)).handleReplicaFetch(req)
  }

  async epochEndOffset(req: EpochEndOffsetRequest): Promise<EpochEndOffset> {
    return (await this.hosted(req.topicId, req.partition)).epochEndOffset(req)
  }

  async produce(req: ReplicaProduceRequest): Promise<ReplicaProduceOutcome[]> {
    return (await this.hosted(req.topicId, req.partition)).produce(req)
  }

  async read(req: ReplicaReadRequest): Promise<ReplicaReadResponse> {
    return (await this.hosted(req.topicId, req.partition)).read(req)
  }

  async listOffset(req: { topicId: string; partition: number; spec: 'earliest' | 'latest' | { timestamp: number } }): Promise<{ offset: number; timestamp: number }> {
    return (await this.hosted(req.topicId, req.partition)).offsetFor(req.spec)
  }

  async status(req: { topicId: string; partition: number }): Promise<ReplicaStatus> {
    return (await this.hosted(req.topicId, req.partition)).status()
  }

  /** Retention and compaction, run by every replica on its own log (as Kafka's replicas do). */
  async maintain(): Promise<void> {
    this.assertOpen()
    for (const replica of this.replicas.values()) await (await replica).log.maintain()
  }

  async deleteReplicas(req: { topicId: string }): Promise<void> {
    this.assertOpen()
    const prefix = `${req.topicId}/`
    const doomed = [...this.replicas].filter(([stream]) => stream.startsWith(prefix))
    for (const [stream, replica] of doomed) {
      this.replicas.delete(stream)
      await (await replica.catch(() => undefined))?.close()
    }
    this.configs.delete(req.topicId)
    // Every stream of the topic this broker ever held, opened now or not.
    const heads = await this.options.storage.listMeta(`head/${prefix}`)
    await this.options.storage.commit({
      deleteRanges: heads.map((h) => ({ stream: h.key.slice('head/'.length), fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER })),
      deleteMetaPrefixes: keys.topicDataPrefixes(req.topicId),
    })
  }

  async stopReplica(req: { topicId: string; partition: number }): Promise<void> {
    this.assertOpen()
    const stream = `${req.topicId}/${req.partition}`
    const replica = this.replicas.get(stream)
    this.replicas.delete(stream)
    await (await replica?.catch(() => undefined))?.close()
    // One stream: its prefixes end with it or with a slash after it (never another partition's).
    await this.options.storage.commit({
      deleteRanges: [{ stream, fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER }],
      meta: [`head/${stream}`, `replication/${stream}`, `txnp/${stream}`].map((key) => ({ key, value: undefined })),
      deleteMetaPrefixes: [`seg/${stream}/`, `pid/${stream}/`, `abrt/${stream}/`],
    })
  }

  /** Leaders check their followers' lag. */
  async tick(): Promise<void> {
    if (this.closed) return
    for (const replica of this.replicas.values()) (await replica.catch(() => undefined))?.tick()
  }

  /** A stopped broker: every replica closes (its fetcher stops, waiting requests fail); storage stays. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    await Promise.all([...this.replicas.values()].map(async (r) => (await r.catch(() => undefined))?.close()))
  }

  private replica(topicId: string, partition: number, topic: string): Promise<PartitionReplica> {
    const stream = streamId(topicId, partition)
    let replica = this.replicas.get(stream)
    if (!replica) {
      const { storage, transport, settings, events } = this.options
      replica = PartitionLog.open({
        storage, stream, now: this.now, label: `${topic}-${partition}@${this.id}`,
        // Configs change (alterConfigs reaches replicas in their assignments): read at each use.
        config: () => this.configs.get(topicId)!,
      }).then((log) => PartitionReplica.open({ broker: this.id, log, storage, transport, settings, events, now: this.now, topic }))
      this.replicas.set(stream, replica)
      replica.catch(() => { if (this.replicas.get(stream) === replica) this.replicas.delete(stream) })
    }
    return replica
  }

  private hosted(topicId: string, partition: number): Promise<PartitionReplica> {
    this.assertOpen()
    const replica = this.replicas.get(streamId(topicId, partition))
    if (!replica) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Broker ${this.id} holds no replica of ${topicId}/${partition} (yet)`)
    return replica
  }

  private assertOpen(): void {
    if (this.closed) throw new EdgelogError('NETWORK_EXCEPTION', `Broker ${this.id} is stopped`)
  }
}
