import { DurableObject } from 'cloudflare:workers'
import { SqliteStorage } from '../../adapters/durable-object/index.ts'
import { EdgelogError } from '../../core/errors.ts'
import type { TopicSpec } from '../../core/broker.ts'
import { keys, streamId } from '../../core/log/keys.ts'
import { randomId, TopicRegistry, validateTopicName, type TopicRecord } from '../../core/log/topic-registry.ts'
import type { EdgelogEnv } from '../env.ts'
import { envelope, settingsOf, type Result } from '../rpc.ts'
import type { PartitionTarget } from './partition.ts'

/** A topic as the Worker sees it: the registry's record and the version of its config. */
export interface TopicView extends TopicRecord {
  configVersion: number
}

const CONFIG_VERSION = (name: string) => `edge/config-version/${name}`
const PENDING_DROP = (topicId: string) => `edge/drop/${topicId}`
const GROUP_DIR = 'edge/group/'

export function targetOf(view: TopicView, partition: number): PartitionTarget {
  return { stream: streamId(view.topicId, partition), topic: view.name, partition, config: view.config, configVersion: view.configVersion }
}

/**
 * The cluster's metadata, in one object: Kafka's controller without ZooKeeper. It holds the
 * topics (TopicRegistry over this object's SQLite), allocates producer ids, keeps the directory
 * of consumer groups (for listGroups), and on topic deletion tells every partition object to
 * drop its data (a deletion that could not reach a partition is retried from an alarm).
 */
export class ControllerObject extends DurableObject<EdgelogEnv> {
  readonly storage: SqliteStorage
  private readonly registry: TopicRegistry

  constructor(ctx: DurableObjectState, env: EdgelogEnv) {
    super(ctx, env)
    this.storage = new SqliteStorage(ctx.storage)
    this.registry = new TopicRegistry(this.storage, settingsOf(env))
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
    return envelope(() => this.registry.createMany(topics, validateOnly))
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

  deleteTopics(names: string[]): Promise<Result<void>> {
    return envelope(async () => {
      if (!Array.isArray(names)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
      for (const name of names) validateTopicName(name)
      for (const name of names) await this.registry.lookup(name)
      for (const name of names) {
        const record = await this.registry.lookup(name)
        // Remember the drop first: if a partition cannot be reached now, the alarm retries it.
        await this.storage.commit({ meta: [{ key: PENDING_DROP(record.topicId), value: { topicId: record.topicId, partitions: record.partitions } }] })
        await this.registry.delete(name)
        await this.storage.commit({ meta: [{ key: CONFIG_VERSION(name), value: undefined }] })
        await this.dropPartitions(record.topicId, record.partitions)
      }
    })
  }

  createPartitions(topicPartitions: Array<{ topic: string; count: number }>): Promise<Result<void>> {
    return envelope(async () => {
      if (!Array.isArray(topicPartitions)) throw new EdgelogError('INVALID_REQUEST', 'topicPartitions must be an array')
      for (const { topic, count } of topicPartitions) await this.registry.increasePartitions(topic, count)
    })
  }

  alterConfigs(topic: string, entries: Array<{ name: string; value: string | null }>): Promise<Result<TopicView>> {
    return envelope(async () => {
      const record = await this.registry.alterConfig(topic, entries)
      const previous = await this.configVersion(record)
      const version = Math.max(Date.now(), previous + 1)
      await this.storage.commit({ meta: [{ key: CONFIG_VERSION(record.name), value: version }] })
      const view: TopicView = { ...record, configVersion: version }
      // Tell the partitions now (they also learn it from the next request that carries it).
      await Promise.allSettled(Array.from({ length: record.partitions }, (_, p) => {
        const target = targetOf(view, p)
        return this.env.PARTITION.get(this.env.PARTITION.idFromName(target.stream)).configure(target)
      }))
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

  /** Retries topic deletions that could not reach every partition. */
  override async alarm(): Promise<void> {
    for (const { value } of await this.storage.listMeta<{ topicId: string; partitions: number }>('edge/drop/')) {
      await this.dropPartitions(value.topicId, value.partitions)
    }
  }

  private async dropPartitions(topicId: string, partitions: number): Promise<void> {
    const results = await Promise.allSettled(Array.from({ length: partitions }, async (_, p) => {
      const stream = streamId(topicId, p)
      const r = await this.env.PARTITION.get(this.env.PARTITION.idFromName(stream)).drop(stream)
      if (!r.ok) throw new Error(r.error.message)
    }))
    if (results.every((r) => r.status === 'fulfilled')) {
      await this.storage.commit({ meta: [{ key: PENDING_DROP(topicId), value: undefined }] })
    } else {
      await this.ctx.storage.setAlarm(Date.now() + 10_000)
    }
  }

  private async configVersion(record: TopicRecord): Promise<number> {
    return (await this.storage.getMeta<number>(CONFIG_VERSION(record.name))) ?? record.createdAt
  }

  private async view(record: TopicRecord): Promise<TopicView> {
    return { ...record, configVersion: await this.configVersion(record) }
  }
}
