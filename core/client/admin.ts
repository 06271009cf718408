/**
 * The KafkaJS-shaped admin client: topics, partitions, configs, offsets and groups, with
 * KafkaJS's method names, argument shapes and results (offsets as decimal strings).
 */
import { EdgelogError, type ErrorCode } from '../errors.ts'
import type { Broker, GroupDescription, TopicPartitions } from '../broker.ts'
import { TOPIC_CONFIG_DEFAULTS, type TopicConfig } from '../config.ts'
import { Emitter } from './events.ts'
import { describe, parseOffset } from './messages.ts'
import { createLogger, type Logger } from './consumer/logger.ts'

/** KafkaJS's AdminEvents. */
export const ADMIN_EVENTS = {
  CONNECT: 'admin.connect', DISCONNECT: 'admin.disconnect', REQUEST: 'admin.network.request',
  REQUEST_TIMEOUT: 'admin.network.request_timeout', REQUEST_QUEUE_SIZE: 'admin.network.request_queue_size',
} as const

/** KafkaJS's ConfigSource (DescribeConfigs' configSource). */
export const ConfigSource = {
  UNKNOWN: 0, TOPIC_CONFIG: 1, DYNAMIC_BROKER_CONFIG: 2, DYNAMIC_DEFAULT_BROKER_CONFIG: 3, STATIC_BROKER_CONFIG: 4, DEFAULT_CONFIG: 5, DYNAMIC_BROKER_LOGGER_CONFIG: 6,
} as const

/** One partition that DeleteRecords refused (KafkaJS's KafkaJSDeleteTopicRecordsError partitions). */
export interface DeleteTopicRecordsFailure { partition: number; offset: string; error: EdgelogError }

export const ConfigResourceTypes = { UNKNOWN: 0, ANY: 1, TOPIC: 2, GROUP: 3, CLUSTER: 4, BROKER: 4 } as const

export interface ITopicConfig {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  configEntries?: Array<{ name: string; value: string }>
}

export interface MemberDescription {
  memberId: string
  clientId: string
  clientHost: string
  /** Decoded, as CONTRACTS.md asks: `{ [topic]: partitions }`. */
  memberAssignment: Record<string, number[]>
  memberMetadata: { topics: string[] }
}

export class Admin {
  readonly events = ADMIN_EVENTS
  private readonly emitter = new Emitter()
  private log: Logger | undefined

  constructor(private readonly broker: Broker, private readonly extras: { storageEstimate?: () => Promise<unknown>; persist?: () => Promise<boolean> } = {}) {}

  async connect(): Promise<void> { this.emitter.emit(ADMIN_EVENTS.CONNECT, null) }
  async disconnect(): Promise<void> { this.emitter.emit(ADMIN_EVENTS.DISCONNECT, null) }

  /** KafkaJS's admin.on(admin.events.X, listener): returns the function that removes the listener. */
  on(event: string, listener: (e: any) => void): () => void { return this.emitter.on(event, listener) }

  /** KafkaJS's admin.logger(): a Logger namespaced 'Admin'. */
  logger(): Logger { return (this.log ??= createLogger('Admin')) }

  async listTopics(): Promise<string[]> {
    return (await this.broker.metadata({})).map((t) => t.name)
  }

  /** true if every topic was created, false if some already existed (as KafkaJS). */
  async createTopics(options: { topics: ITopicConfig[]; validateOnly?: boolean; waitForLeaders?: boolean; timeout?: number }): Promise<boolean> {
    if (!Array.isArray(options?.topics)) throw new EdgelogError('INVALID_REQUEST', 'createTopics takes { topics: [...] }')
    const results = await this.broker.createTopics({ topics: options.topics, validateOnly: options.validateOnly })
    return results.every((r) => r.created)
  }

  async deleteTopics(options: { topics: string[]; timeout?: number }): Promise<void> {
    await this.broker.deleteTopics({ topics: options?.topics })
  }

  async createPartitions(options: { topicPartitions: Array<{ topic: string; count: number }>; validateOnly?: boolean }): Promise<boolean> {
    await this.broker.createPartitions({ topicPartitions: options?.topicPartitions })
    return true
  }

  async fetchTopicMetadata(options: { topics?: string[] } = {}) {
    const topics = await this.broker.metadata({ topics: options.topics })
    return { topics: topics.map((t) => ({ name: t.name, topicId: t.topicId, partitions: t.partitions })) }
  }

  /** Per partition: `offset` (= high), `high` (the high watermark) and `low` (the log start offset). */
  async fetchTopicOffsets(topic: string): Promise<Array<{ partition: number; offset: string; high: string; low: string }>> {
    const [meta] = await this.broker.metadata({ topics: [topic] })
    const partitions = meta.partitions.map((p) => p.partitionId)
    const [high, low] = await Promise.all([
      this.broker.listOffsets({ topic, partitions, spec: 'latest' }),
      this.broker.listOffsets({ topic, partitions, spec: 'earliest' }),
    ])
    return high.map((h, i) => ({ partition: h.partition, offset: String(h.offset), high: String(h.offset), low: String(low[i].offset) }))
  }

  /** The first offset at or after `timestamp` per partition (the high watermark where none is). */
  async fetchTopicOffsetsByTimestamp(topic: string, timestamp?: number): Promise<Array<{ partition: number; offset: string }>> {
    const [meta] = await this.broker.metadata({ topics: [topic] })
    const partitions = meta.partitions.map((p) => p.partitionId)
    if (timestamp === undefined) {
      const latest = await this.broker.listOffsets({ topic, partitions, spec: 'latest' })
      return latest.map((r) => ({ partition: r.partition, offset: String(r.offset) }))
    }
    if (typeof timestamp !== 'number' || !Number.isFinite(timestamp)) throw new EdgelogError('INVALID_TIMESTAMP', `Invalid timestamp ${describe(timestamp)}`)
    const [found, latest] = await Promise.all([
      this.broker.listOffsets({ topic, partitions, spec: { timestamp } }),
      this.broker.listOffsets({ topic, partitions, spec: 'latest' }),
    ])
    return found.map((r, i) => ({ partition: r.partition, offset: String(r.offset >= 0 ? r.offset : latest[i].offset) }))
  }

  async describeCluster() {
    return this.broker.describeCluster()
  }

  async describeConfigs(options: { resources: Array<{ type: number; name: string; configNames?: string[] }>; includeSynonyms?: boolean }) {
    const resources = await Promise.all((options?.resources ?? []).map(async (resource) => {
      if (resource.type !== ConfigResourceTypes.TOPIC) {
        throw new EdgelogError('INVALID_REQUEST', 'Only topic configs (ConfigResourceTypes.TOPIC) are described')
      }
      const [meta] = await this.broker.metadata({ topics: [resource.name] })
      const entries = Object.entries(meta.config) as Array<[keyof TopicConfig, unknown]>
      return {
        resourceType: resource.type, resourceName: resource.name, errorCode: 0, errorMessage: null,
        configEntries: entries
          .filter(([name]) => !resource.configNames || resource.configNames.includes(name))
          .map(([name, value]) => {
            const isDefault = TOPIC_CONFIG_DEFAULTS[name] === value
            return {
              configName: name, configValue: String(value), readOnly: false, isDefault, isSensitive: false,
              configSource: isDefault ? ConfigSource.DEFAULT_CONFIG : ConfigSource.TOPIC_CONFIG, configSynonyms: [],
            }
          }),
      }
    }))
    return { resources, throttleTime: 0 }
  }

  async alterConfigs(options: { validateOnly?: boolean; resources: Array<{ type: number; name: string; configEntries: Array<{ name: string; value: string | null }> }> }) {
    const resources = []
    for (const resource of options?.resources ?? []) {
      if (resource.type !== ConfigResourceTypes.TOPIC) throw new EdgelogError('INVALID_REQUEST', 'Only topic configs can be altered')
      if (!options.validateOnly) await this.broker.alterConfigs({ topic: resource.name, configEntries: resource.configEntries })
      resources.push({ errorCode: 0, errorMessage: null, resourceType: resource.type, resourceName: resource.name })
    }
    return { resources, throttleTime: 0 }
  }

  async listGroups(): Promise<{ groups: Array<{ groupId: string; protocolType: string }> }> {
    const groups = await this.broker.listGroups()
    return { groups: groups.map((g) => ({ groupId: g.groupId, protocolType: g.protocolType })) }
  }

  async describeGroups(groupIds: string[]): Promise<{ groups: Array<Omit<GroupDescription, 'members'> & { members: MemberDescription[]; errorCode: number }> }> {
    if (!Array.isArray(groupIds)) throw new EdgelogError('INVALID_REQUEST', 'describeGroups takes an array of group ids')
    const groups = await this.broker.describeGroups({ groupIds })
    return {
      groups: groups.map((g) => ({
        ...g,
        errorCode: 0,
        members: g.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          memberAssignment: toAssignmentRecord(m.assignment),
          memberMetadata: { topics: m.subscribedTopicNames },
        })),
      })),
    }
  }

  async deleteGroups(groupIds: string[]) {
    const results = await this.broker.deleteGroups({ groupIds })
    const failed = results.find((r) => r.error)
    if (failed?.error) throw new EdgelogError(failed.error.code, failed.error.message)
    return results.map((r) => ({ groupId: r.groupId, errorCode: r.errorCode }))
  }

  /** KafkaJS 2.x shape: per topic, the committed offset of each partition ('-1' when none). */
  async fetchOffsets(options: { groupId: string; topics?: string[]; resolveOffsets?: boolean }) {
    const committed = await this.broker.fetchOffsets({ groupId: options?.groupId, topics: options?.topics })
    const topics = options.topics ?? [...new Set(committed.map((c) => c.topic))]
    const result = []
    for (const topic of topics) {
      const [meta] = await this.broker.metadata({ topics: [topic] })
      const byPartition = new Map(committed.filter((c) => c.topic === topic).map((c) => [c.partition, c]))
      let partitions = meta.partitions.map((p) => {
        const c = byPartition.get(p.partitionId)
        return { partition: p.partitionId, offset: String(c?.offset ?? -1), metadata: c?.metadata ?? null }
      })
      if (options.resolveOffsets) {
        const latest = await this.broker.listOffsets({ topic, partitions: partitions.map((p) => p.partition), spec: 'latest' })
        partitions = partitions.map((p, i) => (p.offset === '-1' ? { ...p, offset: String(latest[i].offset) } : p))
      }
      result.push({ topic, partitions })
    }
    return result
  }

  /** Moves the group's committed offsets to the start or end of the topic (the group must be empty). */
  async resetOffsets(options: { groupId: string; topic: string; earliest?: boolean }): Promise<void> {
    const [meta] = await this.broker.metadata({ topics: [options?.topic] })
    const partitions = meta.partitions.map((p) => p.partitionId)
    const offsets = await this.broker.listOffsets({ topic: options.topic, partitions, spec: options.earliest ? 'earliest' : 'latest' })
    await this.broker.commitOffsets({
      groupId: options.groupId,
      offsets: offsets.map((o) => ({ topic: options.topic, partition: o.partition, offset: o.offset })),
    })
  }

  async setOffsets(options: { groupId: string; topic: string; partitions: Array<{ partition: number; offset: string }> }): Promise<void> {
    if (!Array.isArray(options?.partitions)) throw new EdgelogError('INVALID_REQUEST', 'setOffsets takes { groupId, topic, partitions: [{ partition, offset }] }')
    await this.broker.commitOffsets({
      groupId: options.groupId,
      offsets: options.partitions.map((p) => ({ topic: options.topic, partition: p.partition, offset: parseOffset(p.offset) })),
    })
  }

  /**
   * Kafka's DeleteRecords, as KafkaJS has it: per partition, every record before `offset` is
   * deleted and the log starts there (`'-1'`: the high watermark, i.e. everything so far). An
   * offset at or below the log start deletes nothing. If a partition is refused, the error is the
   * first refusal's (OFFSET_OUT_OF_RANGE past the high watermark, POLICY_VIOLATION on a
   * compact-only topic, UNKNOWN_TOPIC_OR_PARTITION) with every refusal in `partitions`, as
   * KafkaJSDeleteTopicRecordsError; the other partitions are done.
   */
  async deleteTopicRecords(options: { topic: string; partitions: Array<{ partition: number; offset: string | number }> }): Promise<void> {
    const topic = options?.topic
    if (!topic || typeof topic !== 'string') throw new EdgelogError('INVALID_TOPIC_EXCEPTION', `Invalid topic ${describe(topic)}`)
    const partitions = options.partitions
    if (!Array.isArray(partitions) || partitions.length === 0) throw new EdgelogError('INVALID_REQUEST', 'deleteTopicRecords takes { topic, partitions: [{ partition, offset }] } with at least one partition')
    if (!this.broker.deleteRecords) throw new EdgelogError('UNSUPPORTED_VERSION', 'This broker does not support DeleteRecords')
    const requests = partitions.map((p) => ({ partition: p?.partition, offset: parseOffset(p?.offset) }))
    const results = await this.broker.deleteRecords({ topic, partitions: requests })
    const failures: DeleteTopicRecordsFailure[] = results.filter((r) => r.error).map((r) => ({
      partition: r.partition,
      offset: String(requests.find((q) => q.partition === r.partition)?.offset),
      error: new EdgelogError(r.error!.code, r.error!.message),
    }))
    if (failures.length === 0) return
    const message = failures.map((f) => `partition ${f.partition} offset ${f.offset}: ${f.error.message}`).join('; ')
    throw Object.assign(new EdgelogError(failures[0].error.code, `deleteTopicRecords(${topic}): ${message}`), { topic, partitions: failures })
  }

  /** Kafka answers ACL requests of a cluster without an authorizer with SECURITY_DISABLED: edgelog has none (tokens at the Worker). */
  async describeAcls(_options?: unknown): Promise<never> { throw noAuthorizer() }
  async createAcls(_options?: unknown): Promise<never> { throw noAuthorizer() }
  async deleteAcls(_options?: unknown): Promise<never> { throw noAuthorizer() }

  /**
   * Kafka's AlterPartitionReassignments: a broker with replicated partitions (the edge, the
   * simulated cluster) moves them (the new replicas copy the log, then the old ones go;
   * `replicas: null` cancels). Elsewhere one broker (0) holds every partition: onto [0], nothing
   * to do; anything else is refused. The first failed partition is thrown, with every result.
   */
  async alterPartitionReassignments(request: { topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }>; timeout?: number }): Promise<void> {
    if (!Array.isArray(request?.topics)) throw new EdgelogError('INVALID_REQUEST', 'alterPartitionReassignments takes { topics: [{ topic, partitionAssignment }] }')
    if (this.broker.alterPartitionReassignments) return throwFirst('alterPartitionReassignments', await this.broker.alterPartitionReassignments({ topics: request.topics }))
    for (const t of request.topics) {
      const [meta] = await this.broker.metadata({ topics: [t.topic] })
      for (const a of t.partitionAssignment ?? []) {
        if (!meta.partitions.some((p) => p.partitionId === a.partition)) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${t.topic}' has no partition ${describe(a.partition)}`)
        if (!Array.isArray(a.replicas) || a.replicas.length !== 1 || a.replicas[0] !== 0) {
          throw new EdgelogError('INVALID_REPLICATION_FACTOR', `edgelog has one broker (0): ${t.topic}-${a.partition} cannot move to replicas ${JSON.stringify(a.replicas)}`)
        }
      }
    }
  }

  /** The reassignments in progress, KafkaJS's shape (none ever, on a broker without replicas). */
  async listPartitionReassignments(request: { topics?: TopicPartitions[]; timeout?: number } = {}): Promise<{ topics: Array<{ topic: string; partitions: Array<{ partition: number; replicas: number[]; addingReplicas: number[]; removingReplicas: number[] }> }> }> {
    if (!this.broker.listPartitionReassignments) return { topics: [] }
    const found = await this.broker.listPartitionReassignments({ topics: request?.topics })
    const topics = new Map<string, Array<{ partition: number; replicas: number[]; addingReplicas: number[]; removingReplicas: number[] }>>()
    for (const { topic, ...p } of found) topics.set(topic, [...(topics.get(topic) ?? []), p])
    return { topics: [...topics].map(([topic, partitions]) => ({ topic, partitions })) }
  }

  /**
   * Kafka's Admin.electLeaders, PREFERRED (kafka-leader-election): the first replica of each
   * partition leads if it is in sync. Answers per partition (ELECTION_NOT_NEEDED where it leads
   * already); UNSUPPORTED_VERSION on a broker without replicas.
   */
  async electLeaders(request: { electionType?: 'PREFERRED'; partitions: Array<{ topic: string; partition: number }> }) {
    if ((request?.electionType ?? 'PREFERRED') !== 'PREFERRED') throw new EdgelogError('INVALID_REQUEST', `Only PREFERRED elections are run on request (unclean ones follow unclean.leader.election.enable), got ${describe(request.electionType)}`)
    if (!this.broker.electLeaders) throw new EdgelogError('UNSUPPORTED_VERSION', 'This broker has one replica per partition: there is no leader to elect')
    return this.broker.electLeaders({ partitions: request.partitions })
  }

  /** edgelog: committed offset, high watermark and lag per partition (kafka-consumer-groups --describe). */
  async describeGroupOffsets(groupId: string) {
    return this.broker.groupLag({ groupId })
  }

  /** edgelog: partitions with their log start offset, high watermark and segments. */
  async describePartitions(topic: string) {
    return this.broker.describePartitions({ topic })
  }

  /** edgelog: runs retention and compaction now (for one topic, compaction even below the dirty ratio). */
  async runMaintenance(options: { topic?: string } = {}): Promise<void> {
    await this.broker.runMaintenance(options)
  }

  /** edgelog, in the browser: `navigator.storage.estimate()` of the store. */
  async storageEstimate(): Promise<unknown> {
    if (!this.extras.storageEstimate) throw new EdgelogError('INVALID_REQUEST', 'This log has no storage estimate')
    return this.extras.storageEstimate()
  }

  /** edgelog, in the browser: asks for persistent storage (`navigator.storage.persist()`). */
  async persistStorage(): Promise<boolean> {
    if (!this.extras.persist) throw new EdgelogError('INVALID_REQUEST', 'This log cannot ask for persistent storage')
    return this.extras.persist()
  }
}

function noAuthorizer(): EdgelogError {
  return new EdgelogError('SECURITY_DISABLED', 'No authorizer is configured: edgelog has no ACLs; access is per bearer token at the Worker')
}

export function toAssignmentRecord(assignment: TopicPartitions[]): Record<string, number[]> {
  const record: Record<string, number[]> = {}
  for (const { topic, partitions } of assignment) record[topic] = [...partitions].sort((a, b) => a - b)
  return record
}

/** A per-partition answer's first failure, thrown with every partition's result (as deleteTopicRecords does). */
function throwFirst(what: string, results: Array<{ topic: string; partition: number; error?: { code: ErrorCode; message: string } }>): void {
  const failed = results.filter((r) => r.error)
  if (failed.length === 0) return
  const message = failed.map((r) => `${r.topic}-${r.partition}: ${r.error!.message}`).join('; ')
  throw Object.assign(new EdgelogError(failed[0].error!.code, `${what}: ${message}`), { partitions: results })
}
