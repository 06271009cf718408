/**
 * Replica topics at the edge (MirrorMaker's target): the ReplicaTarget a follower writes
 * through, over the controller (replica topic records with the leader's topic id) and the
 * partition objects (the leader's batches at their offsets). Same semantics as core's Replicas.
 */
import { EdgelogError } from '../core/errors.ts'
import type { TopicConfig } from '../core/config.ts'
import type { ReplicaAppend, ReplicaPartitionStatus, ReplicaTarget } from '../core/log/replicas.ts'
import type { Cluster } from './cluster.ts'
import type { PartitionTarget } from './objects/partition.ts'
import { unwrap } from './rpc.ts'

export class EdgeReplicas implements ReplicaTarget {
  constructor(private readonly cluster: Cluster) {}

  async ensureTopic(leader: { name: string; topicId: string; partitions: number; config: TopicConfig }, source: string): Promise<{ partitions: number }> {
    const view = await unwrap(this.cluster.controller().ensureReplica(leader, source))
    this.cluster.remember(view)
    return { partitions: view.partitions }
  }

  async append(req: ReplicaAppend): Promise<{ highWatermark: number; appended: number }> {
    const target = await this.target(req.topic, req.topicId, req.partition)
    return this.cluster.onPartition(target, (stub) => unwrap(stub.replicate(target, req.batches, { logStartOffset: req.logStartOffset, highWatermark: req.highWatermark })))
  }

  async reset(req: { topic: string; topicId: string; partition: number; logStartOffset: number; highWatermark: number }): Promise<void> {
    const target = await this.target(req.topic, req.topicId, req.partition)
    await this.cluster.onPartition(target, (stub) => unwrap(stub.resetReplica(target, req.logStartOffset, req.highWatermark)))
  }

  async status(topic: string): Promise<ReplicaPartitionStatus[]> {
    const view = await this.cluster.topic(topic, { fresh: true })
    if (!view.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${topic}' is not a replica`)
    return Promise.all(Array.from({ length: view.partitions }, async (_, partition) => {
      const target = await this.cluster.target(topic, partition)
      const s = await this.cluster.onPartition(target, (stub) => unwrap(stub.replicaStatus(target)))
      return { partition, ...s, lag: s.leaderHighWatermark < 0 ? 0 : Math.max(0, s.leaderHighWatermark - s.highWatermark) }
    }))
  }

  /** The partition of the replica that follows exactly `topicId` (checked against fresh metadata before refusing). */
  private async target(topic: string, topicId: string, partition: number): Promise<PartitionTarget> {
    let target = await this.cluster.target(topic, partition)
    if (idOf(target) !== topicId) {
      this.cluster.invalidate(topic)
      target = await this.cluster.target(topic, partition)
    }
    if (!target.replica) throw new EdgelogError('INVALID_REQUEST', `Topic '${topic}' is a local topic, not a replica`)
    if (idOf(target) !== topicId) throw new EdgelogError('INCONSISTENT_TOPIC_ID', `Topic '${topic}' here replicates topic id ${idOf(target)}, not ${topicId}`)
    return target
  }
}

function idOf(target: PartitionTarget): string {
  return target.stream.slice(0, target.stream.indexOf('/'))
}
