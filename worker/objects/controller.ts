import { DurableObject } from 'cloudflare:workers'
import { SqliteStorage } from '../../adapters/durable-object/index.ts'
import { EdgelogError } from '../../core/errors.ts'
import type { TopicSpec } from '../../core/broker.ts'
import { keys, streamId } from '../../core/log/keys.ts'
import { randomId, TopicRegistry, validatePartitionCount, validateTopicName, type TopicRecord } from '../../core/log/topic-registry.ts'
import { applyTopicConfig } from '../../core/config.ts'
import type { EdgelogEnv } from '../env.ts'
import { envelope, settingsOf, type Result } from '../rpc.ts'
import type { PartitionTarget } from './partition.ts'
import type { PartitionAssignment } from '../../core/replication/types.ts'
import { ReplicationController } from '../replication/controller-state.ts'
import type { ControllerCall } from '../replication/protocol.ts'

/** A topic as the Worker sees it: the registry's record and the version of its config. */
export interface TopicView extends TopicRecord {
  configVersion: number
  /** A replicated topic's partitions: leader, epochs, replicas, ISR (worker/replication/). */
  assignments?: PartitionAssignment[]
}

const CONFIG_VERSION = (name: string) => `edge/config-version/${name}`
const PENDING_DROP = (topicId: string) => `edge/drop/${topicId}`
const GROUP_DIR = 'edge/group/'
const DROP_RETRY_MS = 10_000

/** A topic marked for deletion: its partitions to drop, then its record to remove (`name`; absent in drops recorded after the record was gone). */
interface PendingDrop {
  topicId: string
  partitions: number
  name?: string
  /** Replicated (worker/replication/): its replica objects are dropped too. */
  replicated?: true
}

export function targetOf(view: TopicView, partition: number): PartitionTarget {
  return {
    stream: streamId(view.topicId, partition), topic: view.name, partition, config: view.config, configVersion: view.configVersion,
    ...(view.replica ? { replica: true } : {}),
    ...(view.assignments?.[partition] ? { replication: view.assignments[partition] } : {}),
  }
}

/**
 * The cluster's metadata, in one object: Kafka's controller without ZooKeeper. It holds the
 * topics (TopicRegistry over this object's SQLite), allocates producer ids, keeps the directory
 * of consumer groups (for listGroups), and on topic deletion drops every partition object
 * before the topic leaves the metadata (one that cannot be reached is retried from an alarm).
 */
export class ControllerObject extends DurableObject<EdgelogEnv> {
  readonly storage: SqliteStorage
  private readonly registry: TopicRegistry
  /** Replicated topics' assignments and elections (worker/replication/controller-state.ts). */
  readonly replicated: ReplicationController

  constructor(ctx: DurableObjectState, env: EdgelogEnv) {
    super(ctx, env)
    this.storage = new SqliteStorage(ctx.storage)
    // Tiered storage exists here exactly when there is an R2 binding (docs/tiered-storage.md):
    // without one a topic asking for it is refused INVALID_CONFIG.
    this.replicated = new ReplicationController(this.storage, env, async (at) => {
      const current = await ctx.storage.getAlarm()
      if (current === null || current > at) await ctx.storage.setAlarm(at)
    })
    // The replication factor is bounded by the regions replicas may go to (EDGELOG_REPLICA_LOCATIONS).
    this.registry = new TopicRegistry(this.storage, { ...settingsOf(env), 'remote.log.storage.system.enable': env.REMOTE_STORAGE !== undefined }, Date.now, this.replicated.brokers)
  }

  describeCluster(): Promise<Result<{ clusterId: string }>> {
    return envelope(async () => {
      let clusterId = await this.storage.getMeta<string>(keys.clusterId)
      if (!clusterId) {
        clusterId = randomId()
        await this.storage.commit({ meta: [{ key: keys.clusterId, value: clusterId }] })
      }
      return { clusterId }
    })
  }

  createTopics(topics: TopicSpec[], validateOnly: boolean): Promise<Result<Array<{ topic: string; created: boolean }>>> {
    return envelope(async () => {
      const results = await this.registry.createMany(topics, validateOnly)
      for (const r of results) {
        const record = r.created && !validateOnly ? await this.registry.get(r.topic) : undefined
        if (record?.replicationFactor) await this.replicated.assign(record)
      }
      return results
    })
  }

  /** Edge replication's controller calls (AlterPartition, assignments, elections): worker/replication/. */
  replication(call: ControllerCall): Promise<Result<unknown>> {
    return envelope(() => this.replicated.handle(call))
  }

  /** The replica of another deployment's topic (MirrorMaker): created with its topic id, or grown; INCONSISTENT_TOPIC_ID if the name holds another log. */
  ensureReplica(leader: { name: string; topicId: string; partitions: number; config: TopicRecord['config'] }, source: string): Promise<Result<TopicView>> {
    return envelope(async () => this.view(await this.registry.ensureReplica(leader, source)))
  }

  /** The named topics (every topic when `names` is undefined); unknown ones: UNKNOWN_TOPIC_OR_PARTITION, or auto-created. */
  metadata(names: string[] | undefined, autoCreate: boolean): Promise<Result<TopicView[]>> {
    return envelope(async () => {
      const records = names === undefined
        ? await this.registry.list()
        : await Promise.all(names.map((n) => this.registry.lookup(n, autoCreate)))
      return Promise.all(records.map((r) => this.view(r)))
    })
  }

  /** Partition counts of the existing topics among `names` (the group coordinator's question). */
  partitionCounts(names: string[]): Promise<Result<Record<string, number>>> {
    return envelope(async () => {
      const counts: Record<string, number> = {}
      for (const name of names) {
        const r = typeof name === 'string' ? await this.registry.get(name) : undefined
        if (r) counts[name] = r.partitions
      }
      return counts
    })
  }

  /**
   * Deletes the topics. Each partition object is dropped (its data removed, every later request
   * refused) BEFORE the topic record goes: while any partition may still take writes the topic
   * stays in the metadata, so no Worker, however stale its cache, can have a write acknowledged
   * after the deletion was. A partition that cannot be reached fails the request (retriable)
   * with the topic still listed, marked for deletion: its dropped partitions refuse writes, it
   * takes no new partitions or configs, and the deletion completes from the alarm (every 10 s)
   * or when the request is retried.
   */
  deleteTopics(names: string[]): Promise<Result<void>> {
    return envelope(async () => {
      if (!Array.isArray(names)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
      for (const name of names) validateTopicName(name)
      if (!settingsOf(this.env)['delete.topic.enable']) {
        throw new EdgelogError('TOPIC_DELETION_DISABLED', 'Topic deletion is disabled (delete.topic.enable=false)')
      }
      for (const name of names) await this.registry.lookup(name)
      for (const name of names) {
        const record = await this.registry.lookup(name)
        const pending: PendingDrop = { topicId: record.topicId, partitions: record.partitions, name, ...(record.replicationFactor ? { replicated: true as const } : {}) }
        // Remember the deletion first: from here the topic is marked for deletion, and if a
        // partition cannot be reached now, the alarm finishes the work.
        await this.storage.commit({ meta: [{ key: PENDING_DROP(record.topicId), value: pending }] })
        await this.finishDeletion(pending)
      }
    })
  }

  /**
   * Adds partitions to topics. Every entry is checked first (its shape, the topic, a count that
   * only increases, no topic twice): one bad entry changes nothing.
   */
  createPartitions(topicPartitions: Array<{ topic: string; count: number }>): Promise<Result<void>> {
    return envelope(async () => {
      if (!Array.isArray(topicPartitions)) throw new EdgelogError('INVALID_REQUEST', 'topicPartitions must be an array')
      const seen = new Set<string>()
      for (const [i, entry] of topicPartitions.entries()) {
        if (typeof entry !== 'object' || entry === null) throw new EdgelogError('INVALID_REQUEST', `topicPartitions[${i}] must be { topic, count }`)
        validateTopicName(entry.topic)
        if (seen.has(entry.topic)) throw new EdgelogError('INVALID_REQUEST', `Topic '${entry.topic}' is listed twice`)
        seen.add(entry.topic)
        checkPartitionIncrease(await this.alterable(entry.topic), entry.count)
      }
      for (const { topic, count } of topicPartitions) {
        const grown = await this.registry.increasePartitions(topic, count)
        if (grown.replicationFactor) await this.replicated.assign(grown)
      }
    })
  }

  alterConfigs(topic: string, entries: Array<{ name: string; value: string | null }>): Promise<Result<TopicView>> {
    return this.alterTopic(topic, { configEntries: entries })
  }

  /**
   * Kafka's CreatePartitions and IncrementalAlterConfigs for one topic in one request (the
   * HTTP PATCH). Both are checked against the current record before either is applied: a bad
   * config adds no partitions, a bad count changes no config.
   */
  alterTopic(topic: string, change: { partitions?: number; configEntries?: Array<{ name: string; value: string | null }> }): Promise<Result<TopicView>> {
    return envelope(async () => {
      if (typeof change !== 'object' || change === null) throw new EdgelogError('INVALID_REQUEST', 'Expected { partitions?, configEntries? }')
      const { partitions, configEntries } = change
      if (partitions === undefined && configEntries === undefined) throw new EdgelogError('INVALID_REQUEST', 'Nothing to change: give partitions and/or config')
      const record = await this.alterable(topic)
      if (configEntries !== undefined) {
        if (!Array.isArray(configEntries)) throw new EdgelogError('INVALID_REQUEST', 'configEntries must be an array')
        applyTopicConfig(record.config, configEntries)
      }
      if (partitions !== undefined) checkPartitionIncrease(record, partitions)
      // Both checked: apply. (Storage work only, no other request runs in between.)
      let next = partitions === undefined ? record : await this.registry.increasePartitions(topic, partitions)
      if (partitions !== undefined && next.replicationFactor) await this.replicated.assign(next)
      let version = await this.configVersion(next)
      if (configEntries !== undefined) {
        next = await this.registry.alterConfig(topic, configEntries)
        version = Math.max(Date.now(), version + 1)
        await this.storage.commit({ meta: [{ key: CONFIG_VERSION(next.name), value: version }] })
      }
      const view: TopicView = { ...next, configVersion: version, ...(next.replicationFactor ? { assignments: await this.replicated.assignmentsOf(next) } : {}) }
      if (configEntries !== undefined && view.assignments) await this.replicated.configChanged(view.topicId, view.config)
      else if (configEntries !== undefined) {
        // Tell the partitions now (they also learn it from the next request that carries it).
        await Promise.allSettled(Array.from({ length: view.partitions }, (_, p) => {
          const target = targetOf(view, p)
          return this.env.PARTITION.get(this.env.PARTITION.idFromName(target.stream)).configure(target)
        }))
      }
      return view
    })
  }

  initProducerId(): Promise<Result<{ producerId: number; producerEpoch: number }>> {
    return envelope(async () => {
      // A Durable Object runs one request's storage work at a time: read and write without a lock.
      const next = (await this.storage.getMeta<number>(keys.producerIds)) ?? 0
      await this.storage.commit({ meta: [{ key: keys.producerIds, value: next + 1 }], durability: 'strict' })
      return { producerId: next, producerEpoch: 0 }
    })
  }

  registerGroup(groupId: string): Promise<Result<void>> {
    return envelope(() => this.storage.commit({ meta: [{ key: GROUP_DIR + encodeURIComponent(groupId), value: 1 }] }))
  }

  unregisterGroup(groupId: string): Promise<Result<void>> {
    return envelope(() => this.storage.commit({ meta: [{ key: GROUP_DIR + encodeURIComponent(groupId), value: undefined }] }))
  }

  listGroupIds(): Promise<Result<string[]>> {
    return envelope(async () => (await this.storage.listMeta(GROUP_DIR)).map((e) => decodeURIComponent(e.key.slice(GROUP_DIR.length))))
  }

  /** Finishes topic deletions that could not reach every partition, and replica stops that failed (reassignments). */
  override async alarm(): Promise<void> {
    for (const { value } of await this.storage.listMeta<PendingDrop>('edge/drop/')) {
      await this.finishDeletion(value).catch(() => {})
    }
    await this.replicated.retryStops().catch(() => {})
  }

  /**
   * Drops every partition of a topic marked for deletion, then (only then) removes the topic
   * record. A partition that cannot be reached: the alarm tries again in 10 s, and this throws.
   */
  private async finishDeletion(pending: PendingDrop): Promise<void> {
    const replicas = pending.replicated ? await this.replicated.replicaObjects(pending.topicId) : []
    const objects = [...Array.from({ length: pending.partitions }, (_, p) => ({ name: streamId(pending.topicId, p), stream: streamId(pending.topicId, p) })), ...replicas]
    const results = await Promise.allSettled(objects.map(async ({ name, stream }) => {
      const r = await this.env.PARTITION.get(this.env.PARTITION.idFromName(name)).drop(stream)
      if (!r.ok) throw new Error(r.error.message)
    }))
    const failed = results.filter((r) => r.status === 'rejected').length
    if (failed > 0) {
      await this.ctx.storage.setAlarm(Date.now() + DROP_RETRY_MS)
      throw new EdgelogError('NETWORK_EXCEPTION',
        `Topic '${pending.name ?? pending.topicId}' is marked for deletion, but ${failed} of its ${pending.partitions} partitions could not be reached; ` +
        `the deletion completes when they are (retried every ${DROP_RETRY_MS / 1000} s, or retry this request)`, { retriable: true })
    }
    // Every partition refuses writes now: the topic may disappear from the metadata.
    if (pending.name !== undefined && (await this.registry.get(pending.name))?.topicId === pending.topicId) {
      await this.registry.delete(pending.name)
      await this.storage.commit({ meta: [{ key: CONFIG_VERSION(pending.name), value: undefined }] })
    }
    if (replicas.length > 0) await this.replicated.forget(pending.topicId)
    await this.storage.commit({ meta: [{ key: PENDING_DROP(pending.topicId), value: undefined }] })
  }

  /** The topic, unless it is marked for deletion (then it takes no new partitions or configs). */
  private async alterable(name: string): Promise<TopicRecord> {
    const record = await this.registry.lookup(name)
    if (await this.storage.getMeta(PENDING_DROP(record.topicId))) {
      throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${name}' is marked for deletion`)
    }
    return record
  }

  private async configVersion(record: TopicRecord): Promise<number> {
    return (await this.storage.getMeta<number>(CONFIG_VERSION(record.name))) ?? record.createdAt
  }

  private async view(record: TopicRecord): Promise<TopicView> {
    const view: TopicView = { ...record, configVersion: await this.configVersion(record) }
    if (record.replicationFactor) view.assignments = await this.replicated.assignmentsOf(record)
    return view
  }
}

function checkPartitionIncrease(record: TopicRecord, count: unknown): asserts count is number {
  validatePartitionCount(count, 'count')
  if (count <= record.partitions) {
    throw new EdgelogError('INVALID_PARTITIONS', `Topic '${record.name}' has ${record.partitions} partitions; the count can only increase (asked ${count})`)
  }
}
