/**
 * Topics and their configs: Kafka's controller metadata, kept in `topic/<name>` meta keys.
 * Runs over any storage (one LocalBroker, or the Worker's controller Durable Object).
 *
 * Topic records are cached. With a store shared by several contexts (tabs) the cache holds
 * only topics that exist and is dropped per topic on the store's change feed (`invalidate`,
 * called by LocalBroker); every change here is a commit that expects the record it read (or
 * its absence), so a stale cache can make a change fail and be retried, never overwrite
 * another context's. Partition logs expect the topic record on every append too, so a stale
 * record never leads to a write into a deleted topic's stream.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import { applyTopicConfig, TOPIC_CONFIG_DEFAULTS, validateTopicConfig, type LogSettings, type TopicConfig } from '../config.ts'
import type { TopicSpec } from '../broker.ts'
import type { StorageAdapter } from '../storage.ts'
import { keys, streamId } from './keys.ts'

export interface TopicRecord {
  name: string
  topicId: string
  partitions: number
  config: TopicConfig
  createdAt: number
  /**
   * Set on a replica of a remote topic: its id is the leader's topic id, and only a follower
   * writes into it (local producers get NOT_LEADER_OR_FOLLOWER).
   */
  replica?: { source: string; topic: string }
  /** Replicas per partition (core/replication); absent: 1, the broker that holds this log. */
  replicationFactor?: number
}

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/
/** Kafka's hard limit on partitions per topic request is far higher; this keeps a typo from allocating millions. */
export const MAX_PARTITIONS = 10_000

export function validateTopicName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new EdgelogError('INVALID_TOPIC_EXCEPTION', `Invalid topic name ${JSON.stringify(name)}: 1-249 characters of [a-zA-Z0-9._-], not '.' or '..'`)
  }
}

export function validatePartitionCount(count: unknown, what = 'numPartitions'): asserts count is number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS) {
    throw new EdgelogError('INVALID_PARTITIONS', `${what} must be an integer from 1 to ${MAX_PARTITIONS}, got ${JSON.stringify(count)}`)
  }
}

export class TopicRegistry {
  private readonly cache = new Map<string, TopicRecord | null>()

  constructor(
    private readonly storage: StorageAdapter,
    private readonly settings: LogSettings,
    private readonly now: () => number = Date.now,
    /** Brokers that can hold a replica: a replication factor above it is INVALID_REPLICATION_FACTOR. */
    private readonly brokers = 1,
  ) {}

  async get(name: string): Promise<TopicRecord | undefined> {
    const cached = this.cache.get(name)
    if (cached !== undefined) return cached ?? undefined
    const record = await this.storage.getMeta<TopicRecord>(keys.topic(name))
    // Shared stores: another context may create it any moment; an absence is not cached.
    if (record || !this.storage.capabilities.shared) this.cache.set(name, record ?? null)
    return record
  }

  /** Runs a read-modify-write of topic records again, with fresh reads, if another context wrote first. */
  private async conflictRetry<T>(names: string[], fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn()
      } catch (error) {
        if (!isEdgelogError(error, 'STORAGE_CONFLICT') || attempt >= 5) throw error
        for (const name of names) this.cache.delete(name)
      }
    }
  }

  /** The topic, or UNKNOWN_TOPIC_OR_PARTITION (auto-created first when allowed). */
  async lookup(name: string, autoCreate = false): Promise<TopicRecord> {
    validateTopicName(name)
    const found = await this.get(name)
    if (found) return found
    if (autoCreate && this.settings['auto.create.topics.enable']) {
      await this.create({ topic: name })
      return (await this.get(name))!
    }
    throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host topic '${name}'`)
  }

  async list(): Promise<TopicRecord[]> {
    const entries = await this.storage.listMeta<TopicRecord>(keys.topicPrefix)
    return entries.map((e) => e.value)
  }

  /** Validates every spec before creating any: one bad spec creates nothing. */
  async createMany(specs: TopicSpec[], validateOnly = false): Promise<Array<{ topic: string; created: boolean }>> {
    if (!Array.isArray(specs)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
    const seen = new Set<string>()
    const records: TopicRecord[] = []
    for (const spec of specs) {
      const record = this.recordFor(spec)
      if (seen.has(record.name)) throw new EdgelogError('INVALID_REQUEST', `Topic '${record.name}' is listed twice`)
      seen.add(record.name)
      records.push(record)
    }
    return this.conflictRetry(records.map((r) => r.name), async () => {
      const results: Array<{ topic: string; created: boolean }> = []
      const toCreate: TopicRecord[] = []
      for (const record of records) {
        const exists = await this.get(record.name)
        results.push({ topic: record.name, created: !exists })
        if (!exists) toCreate.push(record)
      }
      if (!validateOnly && toCreate.length > 0) {
        // Only if no other context created any of them meanwhile (then: look again).
        await this.storage.commit({
          meta: toCreate.map((r) => ({ key: keys.topic(r.name), value: r })),
          expect: toCreate.map((r) => ({ key: keys.topic(r.name), value: undefined })),
        })
        for (const r of toCreate) this.cache.set(r.name, r)
      }
      return results
    })
  }

  async create(spec: TopicSpec): Promise<boolean> {
    const [result] = await this.createMany([spec])
    return result.created
  }

  /** Removes the topic and every record, segment and producer state of its partitions. */
  async delete(name: string): Promise<TopicRecord> {
    if (!this.settings['delete.topic.enable']) {
      throw new EdgelogError('TOPIC_DELETION_DISABLED', 'Topic deletion is disabled (delete.topic.enable=false)')
    }
    return this.conflictRetry([name], async () => {
      const record = await this.lookup(name)
      await this.storage.commit({
        deleteRanges: Array.from({ length: record.partitions }, (_, p) => ({
          stream: streamId(record.topicId, p), fromOffset: 0, toOffset: Number.MAX_SAFE_INTEGER,
        })),
        meta: [{ key: keys.topic(name), value: undefined }],
        deleteMetaPrefixes: keys.topicDataPrefixes(record.topicId),
        // The record this deletion read (its partitions): not one another context changed since.
        expect: [{ key: keys.topic(name), value: record }],
      })
      this.cache.delete(name)
      return record
    })
  }

  /** Partitions can be added, never removed (INVALID_PARTITIONS). */
  async increasePartitions(name: string, count: number): Promise<TopicRecord> {
    validatePartitionCount(count, 'count')
    return this.conflictRetry([name], async () => {
      const record = await this.lookup(name)
      if (count <= record.partitions) {
        throw new EdgelogError('INVALID_PARTITIONS', `Topic '${name}' has ${record.partitions} partitions; the count can only increase (asked ${count})`)
      }
      const next = { ...record, partitions: count }
      await this.storage.commit({ meta: [{ key: keys.topic(name), value: next }], expect: [{ key: keys.topic(name), value: record }] })
      this.cache.set(name, next)
      return next
    })
  }

  async alterConfig(name: string, entries: Array<{ name: string; value: string | null }>): Promise<TopicRecord> {
    if (!Array.isArray(entries)) throw new EdgelogError('INVALID_REQUEST', 'configEntries must be an array')
    return this.conflictRetry([name], async () => {
      const record = await this.lookup(name)
      const next = { ...record, config: applyTopicConfig(record.config, entries) }
      validateTopicConfig(next.config, this.settings)
      await this.storage.commit({ meta: [{ key: keys.topic(name), value: next }], expect: [{ key: keys.topic(name), value: record }] })
      this.cache.set(name, next)
      return next
    })
  }

  /** Another context changed topic metadata (shared stores). */
  /**
   * The local replica of a leader's topic, created if absent (with the leader's topic id) and
   * grown when the leader added partitions. A topic of that name that is not this replica (a
   * local topic, or a replica of an earlier topic of that name) is INCONSISTENT_TOPIC_ID:
   * a follower never mixes two logs.
   */
  async ensureReplica(leader: { name: string; topicId: string; partitions: number; config: TopicConfig }, source: string): Promise<TopicRecord> {
    validateTopicName(leader.name)
    validatePartitionCount(leader.partitions)
    return this.conflictRetry([leader.name], async () => {
      const existing = await this.get(leader.name)
      if (existing) {
        if (!existing.replica || existing.topicId !== leader.topicId) {
          throw new EdgelogError('INCONSISTENT_TOPIC_ID', existing.replica
            ? `Topic '${leader.name}' here replicates topic id ${existing.topicId}; the leader's is now ${leader.topicId} (deleted and created again)`
            : `Topic '${leader.name}' here is a local topic, not a replica of the leader's`)
        }
        if (existing.partitions >= leader.partitions) return existing
        const grown = { ...existing, partitions: leader.partitions }
        await this.storage.commit({ meta: [{ key: keys.topic(leader.name), value: grown }], expect: [{ key: keys.topic(leader.name), value: existing }] })
        this.cache.set(leader.name, grown)
        return grown
      }
      const record: TopicRecord = {
        name: leader.name, topicId: leader.topicId, partitions: leader.partitions, config: { ...leader.config },
        createdAt: this.now(), replica: { source, topic: leader.name },
      }
      await this.storage.commit({ meta: [{ key: keys.topic(leader.name), value: record }], expect: [{ key: keys.topic(leader.name), value: undefined }] })
      this.cache.set(leader.name, record)
      return record
    })
  }

  invalidate(name?: string): void {
    if (name === undefined) this.cache.clear()
    else this.cache.delete(name)
  }

  private recordFor(spec: TopicSpec): TopicRecord {
    if (typeof spec !== 'object' || spec === null) throw new EdgelogError('INVALID_REQUEST', 'A topic spec must be an object')
    validateTopicName(spec.topic)
    const partitions = spec.numPartitions === undefined || spec.numPartitions === -1 ? this.settings['num.partitions'] : spec.numPartitions
    validatePartitionCount(partitions)
    const rf = spec.replicationFactor === undefined || spec.replicationFactor === -1 ? this.settings['default.replication.factor'] : spec.replicationFactor
    if (!Number.isInteger(rf) || rf < 1 || rf > this.brokers) {
      throw new EdgelogError('INVALID_REPLICATION_FACTOR', rf > this.brokers
        ? `Replication factor ${rf} is larger than the ${this.brokers} broker${this.brokers === 1 ? '' : 's'} that ${this.brokers === 1 ? 'holds' : 'hold'} this log`
        : `Replication factor must be a positive integer, got ${JSON.stringify(spec.replicationFactor)}`)
    }
    return {
      ...(rf > 1 ? { replicationFactor: rf } : {}),
      name: spec.topic,
      topicId: randomId(),
      partitions,
      config: validateTopicConfig(applyTopicConfig(TOPIC_CONFIG_DEFAULTS, spec.configEntries), this.settings),
      createdAt: this.now(),
    }
  }
}

export function randomId(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}
