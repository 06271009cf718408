/**
 * The transaction coordinator as the in-process broker (LocalBroker) runs it: markers go into
 * its own partition logs and group coordinator, and every transactional batch is checked with
 * the coordinator before its partition appends it.
 */
import type { TopicPartitions } from '../broker.ts'
import { readBatchHeader } from '../codec/record-batch.ts'
import { isEdgelogError } from '../errors.ts'
import type { GroupCoordinator } from '../groups/coordinator.ts'
import type { PartitionLog } from '../log/partition-log.ts'
import type { TopicRecord, TopicRegistry } from '../log/topic-registry.ts'
import type { StorageAdapter } from '../storage.ts'
import { TransactionCoordinator } from './coordinator.ts'

export interface LocalTransactionDeps {
  storage: StorageAdapter
  now: () => number
  topics: TopicRegistry
  groups: GroupCoordinator
  partition: (record: TopicRecord, partition: number) => Promise<PartitionLog>
  allocateProducerId: () => Promise<number>
  /** Kafka's transactional.id.expiration.ms. */
  idExpirationMs?: number
}

export function localTransactionCoordinator(deps: LocalTransactionDeps): TransactionCoordinator {
  const { topics, groups } = deps
  /** The MarkerWriter here: each partition's log writes the marker (partitions of deleted topics are skipped). */
  const writeMarkers = async (req: { partitions: TopicPartitions[]; producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch: number }) => {
    await Promise.all(req.partitions.flatMap(({ topic, partitions }) => partitions.map(async (partition) => {
      const record = await topics.get(topic)
      if (!record || partition >= record.partitions) return
      try {
        await (await deps.partition(record, partition)).writeMarker(req)
      } catch (error) {
        if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error
      }
    })))
  }
  return new TransactionCoordinator({
    storage: deps.storage,
    now: deps.now,
    markers: { writeMarkers, completeGroupOffsets: (req) => groups.completeTxnOffsets(req) },
    allocateProducerId: deps.allocateProducerId,
    idExpirationMs: deps.idExpirationMs,
    partitionExists: async (topic, partition) => {
      const record = await topics.get(topic)
      return record !== undefined && !record.replica && Number.isInteger(partition) && partition >= 0 && partition < record.partitions
    },
    commitGroupOffsets: (req) => groups.txnOffsetCommit(req),
  })
}

/**
 * A transactional batch's check with the coordinator, answering a release to call once the
 * append settled; undefined for any other batch (nothing to wait for, no await on the hot path).
 */
export function verifyTransactional(coordinator: TransactionCoordinator, batch: unknown, topic: string, partition: number): Promise<() => void> | undefined {
  // Attributes' low byte (offset 22): transactional (0x10) and not control (0x20).
  if (!(batch instanceof Uint8Array) || batch.byteLength < 61 || (batch[22] & 0x30) !== 0x10) return undefined
  let header
  try {
    header = readBatchHeader(batch)
  } catch {
    return undefined // the log refuses it, typed
  }
  return coordinator.verifyAppend(header.producerId, header.producerEpoch, topic, partition)
}
