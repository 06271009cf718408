/**
 * What a page sees of its log's sync, from any context sharing the store (only one runs the
 * sync): the published status, replica lag per partition, records waiting in the outbox,
 * dead letters; and waiting for the leader's offsets of records produced locally.
 */
import { EdgelogError } from '../errors.ts'
import type { StorageAdapter } from '../storage.ts'
import type { ReplicaPartitionStatus, Replicas } from '../log/replicas.ts'
import type { TopicRecord, TopicRegistry } from '../log/topic-registry.ts'
import { deadLetterPrefix, type DeadLetter, type Outbox, type PendingRecord } from './outbox.ts'
import { SYNC_STATUS_KEY, type NotableEvent, type PublishedSyncStatus } from './sync.ts'

export interface SyncState {
  /** The sync last reached its leader without error (follower or forwarder online). */
  online: boolean
  follower: string
  forwarder: string
  error?: { code: string; message: string }
  lastSyncAt: number
  /** Records produced here and not yet at the leader, and records refused for good. */
  outbox: { waiting: number; deadLetters: number }
  topics: Array<{ topic: string; source: string; partitions: ReplicaPartitionStatus[] }>
  recent: NotableEvent[]
}

export class SyncView {
  constructor(private readonly host: { storage: StorageAdapter; topics: TopicRegistry; replicas: Replicas; outbox: Outbox }) {}

  private async replicaTopics(topic?: string): Promise<TopicRecord[]> {
    const all = (await this.host.topics.list()).filter((t) => t.replica)
    return topic === undefined ? all : all.filter((t) => t.name === topic)
  }

  async status(): Promise<SyncState> {
    const published = await this.host.storage.getMeta<PublishedSyncStatus>(SYNC_STATUS_KEY)
    const topics = await this.replicaTopics()
    let waiting = 0
    const partitions = await Promise.all(topics.map(async (t) => {
      for (let p = 0; p < t.partitions; p++) {
        const log = await this.host.outbox.log(t, p)
        waiting += log.highWatermark - log.logStartOffset
      }
      return { topic: t.name, source: t.replica!.source, partitions: await this.host.replicas.status(t.name) }
    }))
    const deadLetters = (await this.host.storage.listMeta(deadLetterPrefix)).length
    const follower = published?.follower ?? 'stopped'
    const forwarder = published?.forwarder ?? 'stopped'
    return {
      online: follower === 'online' || forwarder === 'online', follower, forwarder, error: published?.error,
      lastSyncAt: published?.lastSyncAt ?? -1, outbox: { waiting, deadLetters }, topics: partitions, recent: published?.recent ?? [],
    }
  }

  async pending(topic?: string): Promise<PendingRecord[]> {
    return this.host.outbox.pending(await this.replicaTopics(topic))
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return (await this.host.storage.listMeta<DeadLetter>(deadLetterPrefix)).map((e) => e.value)
  }

  /** The leader's offset of each outbox record, once delivered (a refused one rejects with its error). */
  async delivered(records: Array<{ topic: string; partition: number; outboxOffset: number }>, timeoutMs?: number): Promise<number[]> {
    return Promise.all(records.map(async (r) => {
      const [record] = await this.replicaTopics(r.topic)
      if (!record) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `'${r.topic}' is not a followed topic here`)
      return (await this.host.outbox.delivered(record, r.partition, r.outboxOffset, timeoutMs)).offset
    }))
  }

  /** Resolves once every outbox is empty: what was produced here is at the leader (or refused). */
  async flush(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      let waiting = 0
      for (const t of await this.replicaTopics()) {
        for (let p = 0; p < t.partitions; p++) {
          const log = await this.host.outbox.log(t, p)
          waiting += log.highWatermark - log.logStartOffset
        }
      }
      if (waiting === 0) return
      if (Date.now() > deadline) throw new EdgelogError('REQUEST_TIMED_OUT', `${waiting} records still wait in the outbox`)
      await this.host.outbox.changed(Math.min(500, deadline - Date.now()))
    }
  }
}
