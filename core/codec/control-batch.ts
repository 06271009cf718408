/**
 * Kafka's control batches: the transaction markers a transaction coordinator writes into every
 * partition a transaction touched (KIP-98). Byte for byte Kafka's (EndTransactionMarker,
 * ControlRecordType): a RecordBatch v2 with the transactional and control attributes, the
 * transaction's producer id and epoch, base sequence -1, and exactly one record whose
 *   key   = version int16 (0) | type int16 (0 abort, 1 commit)
 *   value = version int16 (0) | coordinatorEpoch int32
 */
import { EdgelogError } from '../errors.ts'
import { encodeBatch, type DecodedRecord } from './record-batch.ts'

export type ControlType = 'abort' | 'commit'

export interface TransactionMarker {
  type: ControlType
  coordinatorEpoch: number
}

const ABORT = 0
const COMMIT = 1

/** The control record's key: version 0, then the type. */
export function controlKey(type: ControlType): Uint8Array {
  return Uint8Array.of(0, 0, 0, type === 'commit' ? COMMIT : ABORT)
}

/** The end-transaction marker's value: version 0, then the coordinator epoch. */
export function markerValue(coordinatorEpoch: number): Uint8Array {
  const out = new Uint8Array(6)
  new DataView(out.buffer).setInt32(2, coordinatorEpoch)
  return out
}

/** One marker batch (baseOffset 0: the log assigns it). */
export function encodeMarkerBatch(options: {
  producerId: number
  producerEpoch: number
  type: ControlType
  coordinatorEpoch?: number
  timestamp: number
}): Uint8Array {
  if (!Number.isSafeInteger(options.producerId) || options.producerId < 0) {
    throw new EdgelogError('INVALID_REQUEST', `A transaction marker needs a producer id, got ${options.producerId}`)
  }
  return encodeBatch(
    [{ key: controlKey(options.type), value: markerValue(options.coordinatorEpoch ?? 0), timestamp: options.timestamp }],
    { producerId: options.producerId, producerEpoch: options.producerEpoch, baseSequence: -1, isTransactional: true, isControl: true },
  )
}

/**
 * Reads a control record. Only version 0 keys and values are Kafka's today; a record of an
 * unknown control type (Kafka reserves others) is answered as `undefined`: readers skip it.
 */
export function readControlRecord(record: Pick<DecodedRecord, 'key' | 'value'>): TransactionMarker | undefined {
  const key = record.key
  if (!key || key.byteLength < 4) throw new EdgelogError('CORRUPT_MESSAGE', 'A control record without its 4-byte key')
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength)
  const version = view.getInt16(0)
  if (version < 0) throw new EdgelogError('CORRUPT_MESSAGE', `Control record key version ${version}`)
  const type = view.getInt16(2)
  if (type !== ABORT && type !== COMMIT) return undefined
  const value = record.value
  let coordinatorEpoch = -1
  if (value && value.byteLength >= 6) coordinatorEpoch = new DataView(value.buffer, value.byteOffset, value.byteLength).getInt32(2)
  return { type: type === COMMIT ? 'commit' : 'abort', coordinatorEpoch }
}

