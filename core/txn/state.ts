/**
 * A transactional id's state, as Kafka's TransactionMetadata keeps it, stored under
 * `txn/<transactionalId>` (URI-encoded). The states and their order are Kafka's:
 *
 *   Empty ──addPartitions/addOffsets──▶ Ongoing ──endTxn──▶ PrepareCommit ──markers──▶ CompleteCommit
 *                                          │                PrepareAbort  ──markers──▶ CompleteAbort
 *                                          └── timeout, or initProducerId of a new producer: PrepareAbort (epoch + 1)
 *
 * Prepare* is persisted before any marker is written and Complete* only after every marker
 * is, so a crash between leaves Prepare*: whoever touches the id next (or maintenance) writes
 * the markers again, which is harmless (a marker for an ended transaction is a no-op).
 */
import type { TopicPartitions } from '../broker.ts'
import { EdgelogError } from '../errors.ts'

export type TxnState = 'Empty' | 'Ongoing' | 'PrepareCommit' | 'PrepareAbort' | 'CompleteCommit' | 'CompleteAbort'

export interface TxnMetadata {
  transactionalId: string
  producerId: number
  producerEpoch: number
  state: TxnState
  timeoutMs: number
  /** Partitions in the transaction, by topic, partitions ascending. */
  partitions: TopicPartitions[]
  /** Consumer groups whose offsets the transaction commits. */
  groups: string[]
  /** When the transaction started (the first partition or group added); -1 when none is on. */
  startedAt: number
  updatedAt: number
}

/**
 * How the coordinator ends a transaction in its partitions and groups. In process the local
 * broker writes into its own partition logs and group coordinator; a Durable Object
 * coordinator would make RPCs to the partition and group objects. Both calls are idempotent:
 * writing the same marker twice (recovery after a crash) changes nothing the second time.
 */
export interface MarkerWriter {
  /** Writes the commit or abort marker into each partition; resolves once all are durable. */
  writeMarkers(req: { partitions: TopicPartitions[]; producerId: number; producerEpoch: number; commit: boolean; coordinatorEpoch: number }): Promise<void>
  /** Commits (or drops) the offsets the producer sent to the group in this transaction. */
  completeGroupOffsets(req: { groupId: string; producerId: number; producerEpoch: number; commit: boolean }): Promise<void>
}

export const TXN_PREFIX = 'txn/'
export const txnKey = (transactionalId: string) => `${TXN_PREFIX}${encodeURIComponent(transactionalId)}`

/** Kafka's transaction.max.timeout.ms default (15 minutes). */
export const MAX_TRANSACTION_TIMEOUT_MS = 900_000
/** KafkaJS's transactionTimeout default. */
export const DEFAULT_TRANSACTION_TIMEOUT_MS = 60_000
/** Producer epochs are int16. */
export const MAX_PRODUCER_EPOCH = 0x7fff

export function validateTransactionalId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || id.length === 0 || id.length > 32767) {
    throw new EdgelogError('INVALID_REQUEST', `transactionalId must be a non-empty string, got ${JSON.stringify(id)}`)
  }
}

export function validateTimeout(timeoutMs: unknown, max: number): number {
  if (timeoutMs === undefined) return DEFAULT_TRANSACTION_TIMEOUT_MS
  if (typeof timeoutMs !== 'number' || !Number.isSafeInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > max) {
    throw new EdgelogError('INVALID_TRANSACTION_TIMEOUT', `transactionTimeout must be an integer in [1, ${max}] ms (transaction.max.timeout.ms), got ${JSON.stringify(timeoutMs)}`)
  }
  return timeoutMs
}

/** Every transactional request names the producer: its id must be the id's, its epoch the current one. */
export function checkProducer(m: TxnMetadata, producerId: unknown, producerEpoch: unknown): void {
  if (producerId !== m.producerId) {
    throw new EdgelogError('INVALID_PRODUCER_ID_MAPPING', `Producer id ${JSON.stringify(producerId)} is not the one of transactional id '${m.transactionalId}'`)
  }
  if (producerEpoch !== m.producerEpoch) {
    throw new EdgelogError('PRODUCER_FENCED', `Producer epoch ${JSON.stringify(producerEpoch)} of '${m.transactionalId}' is fenced: the current epoch is ${m.producerEpoch} (another producer with this transactional id started, or the transaction timed out)`)
  }
}

/** The request's partitions, checked and merged with `into` (sorted, no duplicates). */
export function mergePartitions(into: TopicPartitions[], topics: unknown): TopicPartitions[] {
  if (!Array.isArray(topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array of { topic, partitions }')
  const byTopic = new Map<string, Set<number>>(into.map((t) => [t.topic, new Set(t.partitions)]))
  for (const t of topics as TopicPartitions[]) {
    if (typeof t?.topic !== 'string' || !Array.isArray(t.partitions)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array of { topic, partitions }')
    let set = byTopic.get(t.topic)
    if (!set) byTopic.set(t.topic, (set = new Set()))
    for (const p of t.partitions) {
      if (!Number.isInteger(p) || p < 0) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Invalid partition ${JSON.stringify(p)} of '${t.topic}'`)
      set.add(p)
    }
  }
  return [...byTopic].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([topic, set]) => ({ topic, partitions: [...set].sort((a, b) => a - b) }))
}

export function samePartitions(a: TopicPartitions[], b: TopicPartitions[]): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

export function hasPartition(m: TxnMetadata, topic: string, partition: number): boolean {
  return m.partitions.some((t) => t.topic === topic && t.partitions.includes(partition))
}
