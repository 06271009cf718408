/**
 * The Broker protocol over a replicated cluster: what a client's connection to a Kafka cluster
 * does. Produce goes to each partition's leader (found from the controller's assignments,
 * cached and refreshed when a broker says it is not the leader, as Kafka's metadata cache);
 * fetch goes to a replica in the consumer's rack when it has the records (KIP-392), else to the
 * leader; topics go to the controller; groups and producer ids to the cluster's coordinator.
 * The unchanged KafkaJS-shaped client (core/client) runs on it.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type {
  Broker, ClusterInfo, FetchOptions, FetchRequest, FetchResult, GroupHeartbeatRequest, InitProducerIdRequest, InitProducerIdResult,
  ListOffsetsResult, OffsetSpec, PartitionReassignment, PartitionResult, PartitionState, TopicPartitions, ProduceRequest, ProduceResult, TopicMetadata, TopicSpec,
} from '../broker.ts'
import type { GroupCoordinator } from '../groups/coordinator.ts'
import type { TopicRecord } from '../log/topic-registry.ts'
import { groupEntriesByPartition } from '../log/produce-groups.ts'
import { validateMaxBytes, validateOffset, validatePartitionIndex } from '../log/validate.ts'
import type { Controller } from './controller.ts'
import { checkTarget } from './reassign.ts'
import type { BrokerId, PartitionAssignment, ReplicaReadResponse, Transport } from './types.ts'

export interface ClusterServices {
  clusterId: string
  controller: Controller
  groups: GroupCoordinator
  /** The rack of each broker (KIP-392's broker.rack), by id. */
  racks: ReadonlyMap<BrokerId, string>
  nextProducerId(): Promise<number>
}

export interface ClusterBrokerOptions {
  services: ClusterServices
  /** How this client reaches the brokers. */
  transport: Transport
  /** Kafka's client.rack, for fetches that do not carry their own rackId. */
  rack?: string
  /** How long the leader waits for the ISR on acks=all (Kafka's produce timeout; request.timeout.ms 30000). */
  produceTimeoutMs?: number
}

/** Errors after which the cached leader is asked again, and the request answered retriable. */
const ROUTING = new Set(['NOT_LEADER_OR_FOLLOWER', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH', 'NETWORK_EXCEPTION', 'LEADER_NOT_AVAILABLE'])

export class ClusterBroker implements Broker {
  private readonly services: ClusterServices
  private readonly transport: Transport
  private readonly assignments = new Map<string, PartitionAssignment>()
  /** Which broker answered each read with records: how a test sees KIP-392 at work. */
  readonly readsServedBy = new Map<BrokerId, number>()

  constructor(private readonly options: ClusterBrokerOptions) {
    this.services = options.services
    this.transport = options.transport
  }

  private get controller(): Controller { return this.services.controller }

  async describeCluster(): Promise<ClusterInfo> {
    const live = this.controller.brokers.filter((b) => !this.controller.isFenced(b))
    return {
      clusterId: this.services.clusterId,
      brokers: this.controller.brokers.map((nodeId) => ({ nodeId, host: `broker-${nodeId}`, port: 0 })),
      controller: live[0] ?? -1,
    }
  }

  /**
   * Kafka's ElectLeaders, PREFERRED (kafka-leader-election): each partition's first replica
   * leads if it is a live in-sync replica; answered per partition.
   */
  async electLeaders(req: { partitions: Array<{ topic: string; partition: number }> }): Promise<PartitionResult[]> {
    if (!Array.isArray(req?.partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array of { topic, partition }')
    return Promise.all(req.partitions.map(async ({ topic, partition }): Promise<PartitionResult> => {
      try {
        const record = await this.controller.topics.lookup(topic)
        validatePartitionIndex(partition, record)
        const moved = await this.controller.electLeader({ topicId: record.topicId, partition }).catch((error) => {
          throw isEdgelogError(error, 'LEADER_NOT_AVAILABLE') ? new EdgelogError('PREFERRED_LEADER_NOT_AVAILABLE', error.message) : error
        })
        if (!moved) throw new EdgelogError('ELECTION_NOT_NEEDED', `${topic}-${partition}: the preferred replica leads already`)
        this.assignments.clear()
        return { topic, partition, errorCode: 0 }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        return { topic, partition, errorCode: error.errorCode, error: error.toJSON() }
      }
    }))
  }

  /**
   * Kafka's AlterPartitionReassignments: the whole request checked first (topics, partitions,
   * replica lists), then each partition moved by the controller (reassign.ts), answered per partition.
   */
  async alterPartitionReassignments(req: { topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }> }): Promise<PartitionResult[]> {
    if (!Array.isArray(req?.topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array of { topic, partitionAssignment }')
    const entries: Array<{ topic: string; topicId: string; partition: number; replicas: number[] | null }> = []
    const seen = new Set<string>()
    for (const t of req.topics) {
      const record = await this.controller.topics.lookup(t?.topic)
      if (!Array.isArray(t.partitionAssignment)) throw new EdgelogError('INVALID_REQUEST', `Topic '${t.topic}': partitionAssignment must be an array of { partition, replicas }`)
      for (const a of t.partitionAssignment) {
        validatePartitionIndex(a?.partition, record)
        const where = `${t.topic}-${a.partition}`
        if (seen.has(where)) throw new EdgelogError('INVALID_REQUEST', `${where} is listed twice`)
        seen.add(where)
        if (a.replicas !== null) checkTarget(a.replicas, this.controller.brokers.length, where)
        entries.push({ topic: t.topic, topicId: record.topicId, partition: a.partition, replicas: a.replicas })
      }
    }
    return Promise.all(entries.map(async ({ topic, topicId, partition, replicas }): Promise<PartitionResult> => {
      try {
        await this.controller.reassign({ topicId, partition, replicas })
        return { topic, partition, errorCode: 0 }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        return { topic, partition, errorCode: error.errorCode, error: error.toJSON() }
      } finally {
        this.assignments.clear()
      }
    }))
  }

  /** Kafka's ListPartitionReassignments: those in progress. */
  async listPartitionReassignments(req: { topics?: TopicPartitions[] } = {}): Promise<PartitionReassignment[]> {
    const all = await this.controller.assignments({})
    const records = new Map((await this.controller.topics.list()).map((r) => [r.topicId, r.name]))
    return all
      .filter((a) => (a.adding?.length || a.removing?.length) && (!req?.topics || req.topics.some((t) => t.topic === a.topic && (!t.partitions || t.partitions.includes(a.partition)))))
      .map((a) => ({ topic: records.get(a.topicId) ?? a.topic, partition: a.partition, replicas: a.replicas, addingReplicas: a.adding ?? [], removingReplicas: a.removing ?? [] }))
  }

  createTopics(req: { topics: TopicSpec[]; validateOnly?: boolean }) {
    return this.controller.createTopics(req?.topics, req?.validateOnly ?? false)
  }

  async deleteTopics(req: { topics: string[] }): Promise<void> {
    if (!Array.isArray(req?.topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
    for (const name of req.topics) await this.controller.topics.lookup(name)
    for (const name of req.topics) await this.controller.deleteTopic(name)
  }

  async createPartitions(req: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<void> {
    if (!Array.isArray(req?.topicPartitions)) throw new EdgelogError('INVALID_REQUEST', 'topicPartitions must be an array')
    for (const { topic, count } of req.topicPartitions) await this.controller.increasePartitions(topic, count)
  }

  async metadata(req: { topics?: string[]; allowAutoTopicCreation?: boolean } = {}): Promise<TopicMetadata[]> {
    const records = req.topics === undefined
      ? await this.controller.topics.list()
      : await Promise.all(req.topics.map((t) => this.topic(t, req.allowAutoTopicCreation ?? false)))
    return records.map((record) => ({
      name: record.name, topicId: record.topicId, config: record.config,
      partitions: this.controller.assignmentsOf(record.topicId).map((a) => ({
        partitionId: a.partition, leader: a.leader, replicas: a.replicas, isr: a.isr,
        offlineReplicas: a.replicas.filter((r) => this.controller.isFenced(r)),
        partitionErrorCode: a.leader < 0 ? new EdgelogError('LEADER_NOT_AVAILABLE', '').errorCode : 0,
      })),
    }))
  }

  alterConfigs(req: { topic: string; configEntries: Array<{ name: string; value: string | null }> }): Promise<TopicConfig> {
    return this.controller.alterConfig(req?.topic, req?.configEntries)
  }

  /** Per partition: the leader's figures (any live replica's when there is none), and Leader, Replicas, Isr. */
  async describePartitions(req: { topic: string }): Promise<PartitionState[]> {
    const record = await this.controller.topics.lookup(req?.topic)
    return Promise.all(this.controller.assignmentsOf(record.topicId).map(async (a) => {
      const key = { topicId: a.topicId, partition: a.partition }
      const candidates = a.leader >= 0 ? [a.leader, ...a.replicas.filter((r) => r !== a.leader)] : a.replicas
      let status
      for (const b of candidates) {
        status = await this.transport.broker(b).status(key).catch(() => undefined)
        if (status) break
      }
      return {
        partition: a.partition, logStartOffset: status?.logStartOffset ?? -1, highWatermark: status?.highWatermark ?? -1,
        sizeBytes: status?.sizeBytes ?? -1, segments: status?.segments ?? [], leader: a.leader, leaderEpoch: a.leaderEpoch, replicas: a.replicas, isr: a.isr,
        offlineReplicas: a.replicas.filter((r) => this.controller.isFenced(r)),
      }
    }))
  }

  async produce(req: ProduceRequest): Promise<ProduceResult[]> {
    if (!req || !Array.isArray(req.entries)) throw new EdgelogError('INVALID_REQUEST', 'entries must be an array')
    if (req.acks !== -1 && req.acks !== 0 && req.acks !== 1) {
      throw new EdgelogError('INVALID_REQUIRED_ACKS', `acks must be -1, 0 or 1, got ${JSON.stringify(req.acks)}`)
    }
    const results: ProduceResult[] = new Array(req.entries.length)
    await Promise.all(groupEntriesByPartition(req.entries).map(async (indexes) => {
      const first = req.entries[indexes[0]]
      const answer = (i: number, error: unknown) => { results[i] = produceError(req.entries[i], error) }
      try {
        const record = await this.topic(first?.topic, true)
        validatePartitionIndex(first.partition, record)
        const a = await this.leaderOf(record, first.partition)
        const batches = indexes.map((i) => req.entries[i].batch)
        if (batches.some((b) => !(b instanceof Uint8Array))) throw new EdgelogError('CORRUPT_MESSAGE', 'batch must be a Uint8Array of Kafka record batch bytes')
        const outcomes = await this.transport.broker(a.leader).produce({
          topicId: a.topicId, partition: a.partition, acks: req.acks, batches, timeoutMs: this.options.produceTimeoutMs ?? 30_000,
        })
        outcomes.forEach((o, n) => {
          const entry = req.entries[indexes[n]]
          if ('error' in o) {
            answer(indexes[n], this.routed(a, new EdgelogError(o.error.code, o.error.message)))
          } else {
            results[indexes[n]] = { topic: entry.topic, partition: entry.partition, errorCode: 0, baseOffset: o.baseOffset, logAppendTime: o.logAppendTime, logStartOffset: o.logStartOffset }
          }
        })
      } catch (error) {
        for (const i of indexes) answer(i, this.routed(undefined, error, first?.topic, first?.partition))
      }
    }))
    return results
  }

  async fetch(req: FetchRequest, options?: FetchOptions): Promise<FetchResult> {
    const record = await this.topic(req?.topic, false)
    validatePartitionIndex(req.partition, record)
    validateOffset(req.offset)
    validateMaxBytes(req.maxBytes)
    const a = await this.leaderOf(record, req.partition)
    const read = { topicId: a.topicId, partition: a.partition, offset: req.offset, maxBytes: req.maxBytes }
    // KIP-392: a replica in the consumer's rack answers when it holds records past the offset
    // below its own high watermark; otherwise the leader does (and may park the fetch).
    const rack = req.rackId ?? this.options.rack
    const near = rack === undefined ? undefined : a.replicas.find((r) => r !== a.leader && this.services.racks.get(r) === rack && a.isr.includes(r))
    let result: ReplicaReadResponse | undefined
    let servedBy = a.leader
    if (near !== undefined) {
      result = await this.transport.broker(near).read(read).catch(() => undefined)
      if (result && result.batches.length > 0) servedBy = near
      else result = undefined
    }
    if (!result) {
      if (options?.signal?.aborted) throw new EdgelogError('CLOSED', 'The fetch was cancelled')
      try {
        result = await this.transport.broker(a.leader).read({ ...read, maxWaitMs: Math.min(Math.max(0, Number(req.maxWaitMs) || 0), 60_000) })
      } catch (error) {
        throw this.routed(a, error)
      }
    }
    if (result.batches.length > 0) this.readsServedBy.set(servedBy, (this.readsServedBy.get(servedBy) ?? 0) + 1)
    return {
      topic: req.topic, topicId: record.topicId, partition: req.partition, highWatermark: result.highWatermark,
      logStartOffset: result.logStartOffset,
      // The reader owns what it gets: never a view of a replica's store.
      batches: result.batches.map((b) => b.slice()),
    }
  }

  async listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec }): Promise<ListOffsetsResult[]> {
    const record = await this.topic(req?.topic, false)
    const spec = req.spec
    if (spec !== 'earliest' && spec !== 'latest' && !(typeof spec === 'object' && Number.isFinite(spec?.timestamp))) {
      throw new EdgelogError('INVALID_REQUEST', `spec must be 'earliest', 'latest' or { timestamp }`)
    }
    if (req.partitions !== undefined && !Array.isArray(req.partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array of partition numbers')
    const partitions = req.partitions ?? Array.from({ length: record.partitions }, (_, p) => p)
    return Promise.all(partitions.map(async (partition) => {
      validatePartitionIndex(partition, record)
      const a = await this.leaderOf(record, partition)
      try {
        return { topic: req.topic, partition, ...await this.transport.broker(a.leader).listOffset({ topicId: a.topicId, partition, spec: req.spec }) }
      } catch (error) {
        throw this.routed(a, error)
      }
    }))
  }

  async initProducerId(req: InitProducerIdRequest): Promise<InitProducerIdResult> {
    if (req?.transactionalId) throw new EdgelogError('UNSUPPORTED_VERSION', 'Transactions are not supported on a replicated cluster yet (idempotent producers are)')
    return { producerId: await this.services.nextProducerId(), producerEpoch: 0 }
  }

  /** Every replica runs retention and compaction on its own log (as Kafka's do), whatever topic is named. */
  async runMaintenance(): Promise<void> {
    await Promise.all(this.controller.brokers.map((b) => this.transport.broker(b).maintain().catch(() => {})))
    await this.services.groups.expire()
  }

  groupHeartbeat(req: GroupHeartbeatRequest) { return this.services.groups.heartbeat(req) }
  commitOffsets(req: Parameters<Broker['commitOffsets']>[0]) { return this.services.groups.commitOffsets(req) }
  fetchOffsets(req: Parameters<Broker['fetchOffsets']>[0]) { return this.services.groups.fetchOffsets(req) }
  describeGroups(req: Parameters<Broker['describeGroups']>[0]) { return this.services.groups.describeGroups(req) }
  listGroups() { return this.services.groups.listGroups() }
  deleteGroups(req: Parameters<Broker['deleteGroups']>[0]) { return this.services.groups.deleteGroups(req) }
  groupLag(req: Parameters<Broker['groupLag']>[0]) { return this.services.groups.groupLag(req) }

  /** The cluster outlives its clients: nothing to release here. */
  async close(): Promise<void> {}

  private async topic(name: string, autoCreate: boolean): Promise<TopicRecord> {
    const found = await this.controller.topics.get(name)
    if (found || !autoCreate) return found ?? this.controller.topics.lookup(name)
    await this.controller.createTopics([{ topic: name }], false).catch((error) => {
      if (!isEdgelogError(error, 'STORAGE_CONFLICT')) throw error
    })
    return this.controller.topics.lookup(name)
  }

  /** The partition's assignment as cached, asked again when unknown or without a leader. */
  private async leaderOf(record: TopicRecord, partition: number): Promise<PartitionAssignment> {
    const key = `${record.topicId}/${partition}`
    let a = this.assignments.get(key)
    if (!a || a.leader < 0) {
      a = await this.controller.assignment({ topicId: record.topicId, partition })
      if (!a) throw new EdgelogError('LEADER_NOT_AVAILABLE', `${record.name}-${partition} has no assignment yet`)
      this.assignments.set(key, a)
    }
    if (a.leader < 0) throw new EdgelogError('LEADER_NOT_AVAILABLE', `${record.name}-${partition} has no leader (no live in-sync replica)`)
    return a
  }

  /**
   * A leader that moved or cannot be reached: forget the cached assignment and answer
   * LEADER_NOT_AVAILABLE, which the client retries (Kafka's client refreshes its metadata).
   */
  private routed(a: PartitionAssignment | undefined, error: unknown, topic?: string, partition?: number): unknown {
    if (!isEdgelogError(error)) return error
    // A timeout may be a deposed leader that does not know it yet: ask the controller next time.
    if (ROUTING.has(error.code) || error.code === 'REQUEST_TIMED_OUT') {
      if (a) this.assignments.delete(`${a.topicId}/${a.partition}`)
      else this.assignments.clear()
    }
    if (!ROUTING.has(error.code)) return error
    const where = a ? `${a.topic}-${a.partition}` : `${topic}-${partition}`
    return new EdgelogError('LEADER_NOT_AVAILABLE', `${where}: ${error.message}`, { cause: error })
  }
}

function produceError(entry: ProduceRequest['entries'][number] | undefined, error: unknown): ProduceResult {
  if (!isEdgelogError(error)) throw error
  return {
    topic: entry?.topic as string, partition: entry?.partition as number, errorCode: error.errorCode,
    error: { code: error.code, message: error.message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1,
  }
}
