/**
 * `EdgeBroker`: the Broker protocol over the Worker's Durable Objects — LocalBroker's
 * distributed twin. Topic metadata from the controller (cached per isolate for a moment),
 * data from one object per partition, groups from one object per group. The HTTP routes
 * speak only this interface.
 */
import { EdgelogError, isEdgelogError } from '../core/errors.ts'
import type { TopicConfig } from '../core/config.ts'
import type {
  Broker, ClusterInfo, DeleteRecordsResult, FetchRequest, FetchResult, GroupDescription, GroupHeartbeatRequest, GroupHeartbeatResponse,
  InitProducerIdRequest, InitProducerIdResult, ListOffsetsResult, OffsetCommit, OffsetSpec, PartitionReassignment, PartitionResult, PartitionState,
  ProduceRequest, ProduceResult, TopicMetadata, TopicPartitions, TopicSpec, TxnProducer,
} from '../core/broker.ts'
import { edgeBrokers, electPreferredLeaders, listReassignments, reassignPartitions } from './replication/admin.ts'
import { splitBatches } from '../core/codec/record-batch.ts'
import { groupEntriesByPartition } from '../core/log/produce-groups.ts'
import { validateMaxBytes, validateOffset } from '../core/log/validate.ts'
import { Cluster } from './cluster.ts'
import { EdgeReplicas } from './edge-replicas.ts'
import { EdgeTransactions } from './transactions.ts'
import { SchemaValidator, validatesSchemas } from '../core/schemas/validation.ts'
import type { EdgelogEnv } from './env.ts'
import { targetOf, type TopicView } from './objects/controller.ts'
import type { FetchOutcome, PartitionTarget } from './objects/partition.ts'
import { settingsOf, unwrap } from './rpc.ts'

export interface EdgeBrokerOptions {
  /** The caller's address, shown as a group member's clientHost. */
  clientHost?: string
  /** The reader's rack (KIP-392) for replicated topics: worker/replication/rack.ts. */
  clientRack?: string
}

export class EdgeBroker implements Broker {
  readonly cluster: Cluster
  /** Replica topics, written by a follower in another deployment's MirrorMaker. */
  readonly replicas: EdgeReplicas
  /** Transaction coordinators, one object per transactional id. */
  readonly transactions: EdgeTransactions

  constructor(readonly env: EdgelogEnv, private readonly options: EdgeBrokerOptions = {}) {
    this.cluster = new Cluster(env, options.clientRack)
    this.replicas = new EdgeReplicas(this.cluster)
    this.transactions = new EdgeTransactions(env)
  }

  async describeCluster(): Promise<ClusterInfo> {
    const { clusterId } = await unwrap(this.cluster.controller().describeCluster())
    // A broker per region replicas may go to (worker/replication/placement.ts).
    return edgeBrokers(this.cluster, clusterId)
  }

  // ------------------------------------------------------------------ replicas (worker/replication/admin.ts)

  electLeaders(req: { partitions: Array<{ topic: string; partition: number }> }): Promise<PartitionResult[]> {
    return electPreferredLeaders(this.cluster, req?.partitions)
  }

  alterPartitionReassignments(req: { topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }> }): Promise<PartitionResult[]> {
    return reassignPartitions(this.cluster, req?.topics)
  }

  listPartitionReassignments(req: { topics?: TopicPartitions[] } = {}): Promise<PartitionReassignment[]> {
    return listReassignments(this.cluster, req?.topics)
  }

  // ------------------------------------------------------------------ topics

  async createTopics(req: { topics: TopicSpec[]; validateOnly?: boolean }) {
    const results = await unwrap(this.cluster.controller().createTopics(req?.topics, req?.validateOnly ?? false))
    for (const r of results) if (r.created) this.cluster.invalidate(r.topic)
    return results
  }

  async deleteTopics(req: { topics: string[] }): Promise<void> {
    try {
      await unwrap(this.cluster.controller().deleteTopics(req?.topics))
    } finally {
      for (const t of Array.isArray(req?.topics) ? req.topics : []) if (typeof t === 'string') this.cluster.invalidate(t)
    }
  }

  async createPartitions(req: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<void> {
    try {
      await unwrap(this.cluster.controller().createPartitions(req?.topicPartitions))
    } finally {
      for (const t of Array.isArray(req?.topicPartitions) ? req.topicPartitions : []) if (typeof t?.topic === 'string') this.cluster.invalidate(t.topic)
    }
  }

  async metadata(req: { topics?: string[]; allowAutoTopicCreation?: boolean } = {}): Promise<TopicMetadata[]> {
    if (req.topics !== undefined && !Array.isArray(req.topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
    const views = await unwrap(this.cluster.controller().metadata(req.topics, req.allowAutoTopicCreation ?? false))
    for (const v of views) this.cluster.remember(v)
    return views.map(toMetadata)
  }

  /** The topics' views (name, id, partitions, config, version), fresh from the controller. */
  async topicViews(): Promise<TopicView[]> {
    return this.cluster.topics()
  }

  async alterConfigs(req: { topic: string; configEntries: Array<{ name: string; value: string | null }> }): Promise<TopicConfig> {
    const view = await unwrap(this.cluster.controller().alterConfigs(req?.topic, req?.configEntries))
    this.cluster.remember(view)
    return view.config
  }

  /** Partitions and config of one topic, both validated before either is applied (the HTTP PATCH). */
  async alterTopic(req: { topic: string; partitions?: number; configEntries?: Array<{ name: string; value: string | null }> }): Promise<TopicView> {
    try {
      const view = await unwrap(this.cluster.controller().alterTopic(req?.topic, { partitions: req?.partitions, configEntries: req?.configEntries }))
      this.cluster.remember(view)
      return view
    } catch (error) {
      if (typeof req?.topic === 'string') this.cluster.invalidate(req.topic)
      throw error
    }
  }

  async describePartitions(req: { topic: string }): Promise<PartitionState[]> {
    const view = await this.cluster.topic(req?.topic, { fresh: true })
    return Promise.all(Array.from({ length: view.partitions }, (_, p) => {
      const target = targetOf(view, p)
      return this.cluster.onPartition(target, (stub) => unwrap(stub.state(target)))
    }))
  }

  // ------------------------------------------------------------------ data

  /**
   * One call per partition, its batches in request order. Every entry is checked and every
   * partition resolved before any partition object is called; with `allOrNothing` (the JSON
   * produce route) a failure there fails every entry and nothing is sent. Past that point
   * partitions answer independently, as in Kafka.
   */
  async produce(req: ProduceRequest, options: { allOrNothing?: boolean } = {}): Promise<ProduceResult[]> {
    if (!req || !Array.isArray(req.entries)) throw new EdgelogError('INVALID_REQUEST', 'entries must be an array')
    if (req.acks !== -1 && req.acks !== 0 && req.acks !== 1) {
      throw new EdgelogError('INVALID_REQUIRED_ACKS', `acks must be -1, 0 or 1, got ${JSON.stringify(req.acks)}`)
    }
    const results: ProduceResult[] = new Array(req.entries.length)
    const fail = (indexes: number[], error: EdgelogError) => {
      for (const i of indexes) results[i] = failed(req.entries[i], error)
    }
    const autoCreate = settingsOf(this.env)['auto.create.topics.enable']
    const groups = await Promise.all(groupEntriesByPartition(req.entries).map(async (indexes): Promise<{ indexes: number[]; target?: PartitionTarget; error?: EdgelogError; release?: () => Promise<void> }> => {
      try {
        for (const i of indexes) {
          if (!(req.entries[i]?.batch instanceof Uint8Array)) throw new EdgelogError('CORRUPT_MESSAGE', 'batch must be a Uint8Array of Kafka record batch bytes')
        }
        const first = req.entries[indexes[0]]
        const target = await this.cluster.target(first.topic, first.partition, { autoCreate })
        if (validatesSchemas(target.config)) {
          // Checked here, in the Worker, before the partition object stores anything.
          await validatorFor(this.env, this).check(target.topic, target.config, indexes.map((i) => req.entries[i].batch))
        }
        // Transactional batches: checked with their coordinator first (worker/transactions.ts).
        const release = await this.transactions.verify(req.transactionalId, indexes.map((i) => req.entries[i].batch), target.topic, target.partition)
        return { indexes, target, release }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        return { indexes, error }
      }
    }))
    const refused = groups.find((g) => g.error)?.error
    if (refused && options.allOrNothing) {
      await Promise.all(groups.map((g) => g.release?.()))
      fail(req.entries.map((_, i) => i), refused)
      return results
    }
    await Promise.all(groups.map(async ({ indexes, target, error, release }) => {
      if (!target) return fail(indexes, error!)
      try {
        const answer = await this.cluster.onPartition(target, (stub) => unwrap(stub.produce(target, indexes.map((i) => req.entries[i].batch), req.acks)))
        indexes.forEach((i, k) => {
          const r = answer.results[k]
          results[i] = r.error
            ? failed(req.entries[i], new EdgelogError(r.error.code as never, r.error.message))
            : { topic: target.topic, partition: target.partition, errorCode: 0, baseOffset: r.baseOffset, logAppendTime: r.logAppendTime, logStartOffset: answer.logStartOffset }
        })
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        fail(indexes, error)
      } finally {
        await release?.()
      }
    }))
    return results
  }

  async fetch(req: FetchRequest): Promise<FetchResult> {
    const raw = await this.fetchRaw(req)
    return {
      topic: req.topic, topicId: raw.topicId, partition: req.partition, highWatermark: raw.highWatermark, logStartOffset: raw.logStartOffset,
      batches: raw.batchCount === 0 ? [] : splitBatches(raw.bytes),
      ...(raw.lastStableOffset === undefined ? {} : { lastStableOffset: raw.lastStableOffset, abortedTransactions: raw.abortedTransactions ?? [] }),
    }
  }

  /** Fetch with the batches as one buffer (what the binary HTTP route sends as is). */
  async fetchRaw(req: FetchRequest): Promise<FetchOutcome & { topicId: string }> {
    const target = await this.cluster.target(req?.topic, req?.partition)
    validateOffset(req.offset)
    validateMaxBytes(req.maxBytes)
    if (req.isolationLevel !== undefined && req.isolationLevel !== 0 && req.isolationLevel !== 1) {
      throw new EdgelogError('INVALID_REQUEST', `isolationLevel must be 0 (read_uncommitted) or 1 (read_committed), got ${JSON.stringify(req.isolationLevel)}`)
    }
    const outcome = await this.cluster.onPartition(target, (stub) => unwrap(stub.fetchBatches(target, {
      offset: req.offset, maxBytes: req.maxBytes, maxWaitMs: req.maxWaitMs, minBytes: req.minBytes, isolationLevel: req.isolationLevel,
    })))
    // The stream is `<topicId>/<partition>`: followers check the id (a topic created again has another).
    return { ...outcome, topicId: target.stream.slice(0, target.stream.indexOf('/')) }
  }

  async listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec; isolationLevel?: 0 | 1 }): Promise<ListOffsetsResult[]> {
    const view = await this.cluster.topic(req?.topic)
    const spec = req.spec
    if (spec !== 'earliest' && spec !== 'latest' && !(typeof spec === 'object' && spec !== null && Number.isFinite(spec.timestamp))) {
      throw new EdgelogError('INVALID_REQUEST', `spec must be 'earliest', 'latest' or { timestamp }`)
    }
    const partitions = req.partitions ?? Array.from({ length: view.partitions }, (_, p) => p)
    if (!Array.isArray(partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array')
    return Promise.all(partitions.map(async (partition) => {
      const target = await this.cluster.target(req.topic, partition)
      const found = await this.cluster.onPartition(target, (stub) => unwrap(stub.listOffsets(target, spec, req.isolationLevel === 1 ? 1 : 0)))
      return { topic: req.topic, partition, ...found }
    }))
  }

  /** Kafka's DeleteRecords: each partition object moves its own log start (Broker.deleteRecords). */
  async deleteRecords(req: { topic: string; partitions: Array<{ partition: number; offset: number }> }): Promise<DeleteRecordsResult[]> {
    await this.cluster.topic(req?.topic)
    if (!Array.isArray(req.partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array of { partition, offset }')
    return Promise.all(req.partitions.map(async (entry) => {
      const partition = entry?.partition
      try {
        const offset = entry.offset
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < -1) {
          throw new EdgelogError('OFFSET_OUT_OF_RANGE', `offset must be -1 (the high watermark) or a non-negative integer, got ${JSON.stringify(offset)}`)
        }
        const target = await this.cluster.target(req.topic, partition)
        const { lowWatermark } = await this.cluster.onPartition(target, (stub) => unwrap(stub.deleteRecords(target, offset)))
        return { topic: req.topic, partition, lowWatermark, errorCode: 0 }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        return { topic: req.topic, partition, lowWatermark: -1, errorCode: error.errorCode, error: { code: error.code, message: error.message } }
      }
    }))
  }

  async initProducerId(req: InitProducerIdRequest = {}): Promise<InitProducerIdResult> {
    if (req?.transactionalId !== undefined && req.transactionalId !== null) return this.transactions.initProducerId({ ...req, transactionalId: req.transactionalId })
    return unwrap(this.cluster.controller().initProducerId())
  }

  // ------------------------------------------------------------------ transactions (worker/transactions.ts)

  addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void> { return this.transactions.addPartitionsToTxn(req) }
  addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<void> { return this.transactions.addOffsetsToTxn(req) }
  txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void> { return this.transactions.txnOffsetCommit(req) }
  endTxn(req: TxnProducer & { committed: boolean }): Promise<void> { return this.transactions.endTxn(req) }

  async runMaintenance(req: { topic?: string } = {}): Promise<void> {
    const views = req?.topic !== undefined ? [await this.cluster.topic(req.topic, { fresh: true })] : await this.cluster.topics()
    for (const view of views) {
      await Promise.all(Array.from({ length: view.partitions }, (_, p) => {
        const target = targetOf(view, p)
        return this.cluster.onPartition(target, (stub) => unwrap(stub.maintain(target, req?.topic !== undefined)))
      }))
    }
  }

  // ------------------------------------------------------------------ groups

  async groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    return unwrap(this.cluster.group(groupIdOf(req?.groupId)).heartbeat(req, this.options.clientHost))
  }

  async commitOffsets(req: Parameters<Broker['commitOffsets']>[0]): Promise<void> {
    return unwrap(this.cluster.group(groupIdOf(req?.groupId)).commitOffsets(req))
  }

  async fetchOffsets(req: Parameters<Broker['fetchOffsets']>[0]) {
    return unwrap(this.cluster.group(groupIdOf(req?.groupId)).fetchOffsets(req))
  }

  async describeGroups(req: { groupIds: string[] }): Promise<GroupDescription[]> {
    if (!Array.isArray(req?.groupIds)) throw new EdgelogError('INVALID_REQUEST', 'groupIds must be an array')
    return Promise.all(req.groupIds.map((id) => unwrap(this.cluster.group(groupIdOf(id)).describe(id))))
  }

  async listGroups() {
    const ids = await unwrap(this.cluster.controller().listGroupIds())
    const listings = await Promise.all(ids.map((id) => unwrap(this.cluster.group(id).listing(id))))
    return listings.flat()
  }

  async deleteGroups(req: { groupIds: string[] }) {
    if (!Array.isArray(req?.groupIds)) throw new EdgelogError('INVALID_REQUEST', 'groupIds must be an array')
    return Promise.all(req.groupIds.map((id) => unwrap(this.cluster.group(groupIdOf(id)).delete(id))))
  }

  async groupLag(req: { groupId: string }) {
    return unwrap(this.cluster.group(groupIdOf(req?.groupId)).lag(req.groupId))
  }

  async close(): Promise<void> {}
}

/** Group object names are group ids; the coordinator validates them again inside. */
function groupIdOf(groupId: unknown): string {
  if (typeof groupId !== 'string' || groupId.length === 0 || groupId.length > 255) {
    throw new EdgelogError('INVALID_GROUP_ID', `Invalid group id ${JSON.stringify(groupId)}: a non-empty string of at most 255 characters`)
  }
  return groupId
}

function failed(entry: { topic: string; partition: number } | undefined, error: EdgelogError): ProduceResult {
  return {
    topic: entry?.topic as string, partition: entry?.partition as number, errorCode: error.errorCode,
    error: { code: error.code, message: error.message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1,
  }
}

export function toMetadata(view: TopicView): TopicMetadata {
  return {
    name: view.name,
    topicId: view.topicId,
    config: view.config,
    partitions: Array.from({ length: view.partitions }, (_, partitionId) => {
      // A replicated topic (worker/replication/): the controller's Leader, Replicas, Isr; broker ids are regions.
      const a = view.assignments?.[partitionId]
      if (a) return { partitionId, leader: a.leader, replicas: a.replicas, isr: a.isr, offlineReplicas: [], partitionErrorCode: a.leader < 0 ? 5 : 0 }
      return { partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }
    }),
  }
}

/** One schema validator per isolate (its registry state is read once, then only what is new). */
const validators = new WeakMap<object, SchemaValidator>()
function validatorFor(env: EdgelogEnv, broker: EdgeBroker): SchemaValidator {
  let validator = validators.get(env as object)
  if (!validator) validators.set(env as object, (validator = new SchemaValidator(broker)))
  return validator
}
