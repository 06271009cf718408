/**
 * The KafkaJS-shaped admin client: topics, partitions, configs, offsets and groups, with
 * KafkaJS's method names, argument shapes and results (offsets as decimal strings).
 */
import { EdgelogError } from '../errors.ts'
import type { Broker, GroupDescription, TopicPartitions } from '../broker.ts'
import type { TopicConfig } from '../config.ts'
import { describe, parseOffset } from './messages.ts'

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
  constructor(private readonly broker: Broker, private readonly extras: { storageEstimate?: () => Promise<unknown>; persist?: () => Promise<boolean> } = {}) {}

  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}

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
          .map(([name, value]) => ({ configName: name, configValue: String(value), readOnly: false, isDefault: false, isSensitive: false, configSource: 1, configSynonyms: [] })),
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

export function toAssignmentRecord(assignment: TopicPartitions[]): Record<string, number[]> {
  const record: Record<string, number[]> = {}
  for (const { topic, partitions } of assignment) record[topic] = [...partitions].sort((a, b) => a - b)
  return record
}
