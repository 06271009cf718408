/**
 * The replica side of a log: what a follower (core/sync/follower.ts) calls to keep local
 * replicas of a leader's topics. A replica topic carries the leader's topic id; its
 * partitions hold the leader's batches at the leader's offsets, byte for byte.
 */
import { EdgelogError } from '../errors.ts'
import type { TopicConfig } from '../config.ts'
import type { TopicRecord, TopicRegistry } from './topic-registry.ts'
import type { PartitionLog } from './partition-log.ts'
import { validatePartitionIndex } from './validate.ts'

export interface ReplicaPartitionStatus {
  partition: number
  logStartOffset: number
  /** The replica's own end: records below it are here, at the leader's offsets. */
  highWatermark: number
  /** The leader's, as of the last fetch (-1: never synced). */
  leaderLogStartOffset: number
  leaderHighWatermark: number
  /** leaderHighWatermark - highWatermark, as last known (0 when never synced). */
  lag: number
  /** When the replica last heard from its leader (ms since epoch; -1: never). */
  syncedAt: number
}

/**
 * Where a follower writes: the replicas of one log. `Replicas` is it in process (over a
 * LocalBroker: memory, IndexedDB); a remote deployment offers the same over HTTP, so that
 * MirrorMaker runs the same follower between two deployments.
 */
export interface ReplicaTarget {
  ensureTopic(leader: { name: string; topicId: string; partitions: number; config: TopicConfig }, source: string): Promise<{ partitions: number }>
  append(req: ReplicaAppend): Promise<{ highWatermark: number; appended: number }>
  reset(req: { topic: string; topicId: string; partition: number; logStartOffset: number; highWatermark: number }): Promise<void>
  status(topic: string): Promise<ReplicaPartitionStatus[]>
}

export interface ReplicaAppend {
  topic: string
  topicId: string
  partition: number
  /** The leader's batches as fetched, offsets in place. */
  batches: Uint8Array[]
  /** The leader's, from the same fetch. */
  logStartOffset: number
  highWatermark: number
  durability?: 'strict' | 'relaxed'
}

interface ReplicaHost {
  readonly topics: TopicRegistry
  partition(record: TopicRecord, partition: number): Promise<PartitionLog>
}

export class Replicas implements ReplicaTarget {
  constructor(private readonly host: ReplicaHost) {}

  /** The local replica of the leader's topic: created, grown, or INCONSISTENT_TOPIC_ID. */
  ensureTopic(leader: { name: string; topicId: string; partitions: number; config: TopicConfig }, source: string): Promise<TopicRecord> {
    return this.host.topics.ensureReplica(leader, source)
  }

  /** Appends the leader's batches (fetched from the replica's high watermark) at their offsets. */
  async append(req: ReplicaAppend): Promise<{ highWatermark: number; appended: number }> {
    const log = await this.log(req.topic, req.topicId, req.partition)
    return log.replicate(req.batches, { logStartOffset: req.logStartOffset, highWatermark: req.highWatermark }, { durability: req.durability })
  }

  /** Drops everything the replica holds and restarts it at the leader's log start. */
  async reset(req: { topic: string; topicId: string; partition: number; logStartOffset: number; highWatermark: number }): Promise<void> {
    const log = await this.log(req.topic, req.topicId, req.partition)
    await log.resetReplica(req.logStartOffset, req.highWatermark)
  }

  async status(topic: string): Promise<ReplicaPartitionStatus[]> {
    const record = await this.host.topics.lookup(topic)
    if (!record.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${topic}' is not a replica`)
    return Promise.all(Array.from({ length: record.partitions }, async (_, partition) => {
      const log = await this.host.partition(record, partition)
      const position = await log.replicaPosition()
      return {
        partition, logStartOffset: log.logStartOffset, highWatermark: log.highWatermark,
        leaderLogStartOffset: position?.leaderLogStartOffset ?? -1, leaderHighWatermark: position?.leaderHighWatermark ?? -1,
        lag: position ? Math.max(0, position.leaderHighWatermark - log.highWatermark) : 0, syncedAt: position?.syncedAt ?? -1,
      }
    }))
  }

  private async log(topic: string, topicId: string, partition: number): Promise<PartitionLog> {
    const record = await this.host.topics.lookup(topic)
    if (!record.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${topic}' is a local topic, not a replica`)
    if (record.topicId !== topicId) {
      throw new EdgelogError('INCONSISTENT_TOPIC_ID', `Topic '${topic}' here replicates topic id ${record.topicId}, not ${topicId}`)
    }
    validatePartitionIndex(partition, record)
    return this.host.partition(record, partition)
  }
}
