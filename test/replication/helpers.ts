/** A simulated cluster with fast timings, and ways to look at each replica's log. */
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { SimCluster, type SimClusterOptions } from '../../core/replication/sim-cluster.ts'
import { decodeBatch, encodeBatch } from '../../core/codec/record-batch.ts'
import type { BrokerId, PartitionAssignment } from '../../core/replication/types.ts'
import type { StoredBatch } from '../../core/storage.ts'

/** Heartbeats every 10 ms, fenced after 200 ms silent, out of the ISR after 150 ms behind. */
export const FAST = {
  heartbeatMs: 10,
  sessionTimeoutMs: 200,
  tickMs: 20,
  replica: { replicaLagTimeMaxMs: 150, fetchMaxWaitMs: 20, fetchBackoffMs: 5 },
} as const

export async function startCluster(options: Partial<SimClusterOptions> = {}): Promise<SimCluster> {
  return SimCluster.start({ brokers: 3, createStorage: () => new MemoryStorage(), ...FAST, ...options })
}

export async function createTopic(cluster: SimCluster, topic: string, options: { partitions?: number; rf?: number; config?: Record<string, string> } = {}): Promise<PartitionAssignment[]> {
  const client = cluster.client()
  await client.createTopics({
    topics: [{
      topic, numPartitions: options.partitions ?? 1, replicationFactor: options.rf ?? 3,
      configEntries: Object.entries(options.config ?? {}).map(([name, value]) => ({ name, value })),
    }],
  })
  const record = (await cluster.controller.topics.get(topic))!
  await cluster.until(async () => {
    for (const a of cluster.controller.assignmentsOf(record.topicId)) {
      const status = await cluster.node(a.leader)?.status({ topicId: a.topicId, partition: a.partition }).catch(() => undefined)
      if (status?.role !== 'leader') return false
    }
    return true
  }, 2_000, 'leaders')
  return cluster.controller.assignmentsOf(record.topicId)
}

export function assignment(cluster: SimCluster, topic: string, partition = 0): Promise<PartitionAssignment> {
  return cluster.controller.topics.lookup(topic).then((r) => cluster.controller.assignmentsOf(r.topicId)[partition])
}

export function batch(values: string[]): Uint8Array {
  return encodeBatch(values.map((v) => ({ key: null, value: new TextEncoder().encode(v), timestamp: Date.now() })))
}

/** Every record a broker's replica holds (from its storage, whatever its role), with each batch's leader epoch. */
export async function replicaRecords(cluster: SimCluster, broker: BrokerId, a: PartitionAssignment): Promise<Array<{ offset: number; value: string; epoch: number }>> {
  const batches: StoredBatch[] = await cluster.storage(broker).readBatches(`${a.topicId}/${a.partition}`, 0, { maxBytes: Number.MAX_SAFE_INTEGER })
  const out: Array<{ offset: number; value: string; epoch: number }> = []
  for (const b of batches) {
    const decoded = await decodeBatch(b.bytes)
    for (const r of decoded.records) out.push({ offset: r.offset, value: new TextDecoder().decode(r.value!), epoch: decoded.header.partitionLeaderEpoch })
  }
  return out
}

export function values(records: Array<{ value: string }>): string[] {
  return records.map((r) => r.value)
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
