/**
 * Idempotent producer state per partition, as Kafka's ProducerStateManager keeps it: the
 * producer's epoch and the sequence ranges of its last five batches, so that a retried
 * batch is recognised and answered with the offset it was stored at, not stored again.
 */
import { EdgelogError } from '../errors.ts'

export interface ProducerBatchEntry {
  firstSeq: number
  lastSeq: number
  baseOffset: number
  /** The batch's CRC: a retry carries the same bytes; other records under these sequences are not a retry. */
  crc?: number
}
export interface ProducerEntry { producerId: number; epoch: number; batches: ProducerBatchEntry[]; lastTimestamp: number }

const MAX_CACHED_BATCHES = 5
const INT32_MAX = 0x7fffffff

export type SequenceCheck = { kind: 'append' } | { kind: 'duplicate'; baseOffset: number }

/** Decides what an incoming idempotent batch is: new (append), a retry (duplicate), or an error. */
export function checkSequence(
  entry: ProducerEntry | undefined,
  producerEpoch: number,
  firstSeq: number,
  lastSeq: number,
  crc?: number,
): SequenceCheck {
  if (firstSeq < 0) throw new EdgelogError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Idempotent batch without a base sequence`)
  if (!entry) {
    if (firstSeq !== 0) {
      throw new EdgelogError('UNKNOWN_PRODUCER_ID', `No state for this producer here, and its sequence ${firstSeq} is not 0`)
    }
    return { kind: 'append' }
  }
  if (producerEpoch < entry.epoch) {
    throw new EdgelogError('INVALID_PRODUCER_EPOCH', `Producer epoch ${producerEpoch} is older than the current epoch ${entry.epoch}`)
  }
  if (producerEpoch > entry.epoch) {
    if (firstSeq !== 0) {
      throw new EdgelogError('OUT_OF_ORDER_SEQUENCE_NUMBER', `A new producer epoch must start at sequence 0, got ${firstSeq}`)
    }
    return { kind: 'append' }
  }
  const cached = entry.batches.find((b) => b.firstSeq === firstSeq && b.lastSeq === lastSeq)
  if (cached) {
    if (cached.crc !== undefined && crc !== undefined && cached.crc !== crc) {
      // A producer that reused sequences for other records (Kafka would answer "duplicate" and
      // lose them): refuse, so that the producer starts a new epoch instead.
      throw new EdgelogError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Sequence ${firstSeq}..${lastSeq} was stored before with other records`)
    }
    return { kind: 'duplicate', baseOffset: cached.baseOffset }
  }
  const last = entry.batches[entry.batches.length - 1]
  // Older than every batch still remembered: stored before, its offset no longer known here.
  if (last && lastSeq <= last.lastSeq && firstSeq < entry.batches[0].firstSeq) {
    throw new EdgelogError('DUPLICATE_SEQUENCE_NUMBER', `Sequence ${firstSeq}..${lastSeq} was stored before (older than the last ${entry.batches.length} batches remembered)`)
  }
  const expected = last ? (last.lastSeq === INT32_MAX ? 0 : last.lastSeq + 1) : 0
  if (firstSeq !== expected) {
    throw new EdgelogError('OUT_OF_ORDER_SEQUENCE_NUMBER', `Expected sequence ${expected}, got ${firstSeq}`)
  }
  return { kind: 'append' }
}

export function recordBatch(
  entry: ProducerEntry | undefined,
  producerId: number,
  producerEpoch: number,
  batch: ProducerBatchEntry,
  timestamp: number,
): ProducerEntry {
  const kept = entry && entry.epoch === producerEpoch ? entry.batches.slice(-(MAX_CACHED_BATCHES - 1)) : []
  return { producerId, epoch: producerEpoch, batches: [...kept, batch], lastTimestamp: timestamp }
}

/** Sequence of the last record of a batch, wrapping at int32 as Kafka does. */
export function lastSequence(baseSequence: number, recordCount: number): number {
  const last = baseSequence + recordCount - 1
  return last > INT32_MAX ? last - INT32_MAX - 1 : last
}
