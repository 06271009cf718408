/** JSON records ⇄ Kafka record batches, for the JSON produce and fetch routes. */
import { EdgelogError } from '../../core/errors.ts'
import { utf8Length } from '../../core/codec/bytes.ts'
import { BATCH_HEADER_BYTES, decodeBatch, encodeBatch, readBatchHeader, type DecodedRecord, type RecordInput } from '../../core/codec/record-batch.ts'
import { CommittedFilter } from '../../core/client/consumer/committed-filter.ts'
import { keyBytes, murmur2, toPositive } from '../../core/partitioner.ts'
import { utf8InScratch } from '../../core/client/messages.ts'

export type Encoding = 'utf8' | 'base64'

export interface JsonRecordIn {
  key?: string | null
  value: string | null
  headers?: Record<string, string | null> | Array<{ key: string; value: string | null }>
  partition?: number
  timestamp?: number
}

export interface JsonRecordOut {
  offset: number
  timestamp: number
  key: string | null
  value: string | null
  headers: Record<string, string | null>
}

/** Records of one request per partition: the request's records in order, with their index in the request. */
export interface PartitionRecords {
  partition: number
  indexes: number[]
  batches: Uint8Array[]
  /** Record count of each batch, in order. */
  counts: number[]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()
/** Records of one partition are split into batches of at most this many bytes (or the topic's smaller limit). */
export const BATCH_TARGET_BYTES = 512 * 1024
/**
 * An upper bound of a record's encoded size beside its key, value and header bytes: its length
 * varint (5), attributes (1), timestamp delta varlong (10), offset delta (5), key and value
 * lengths (5 + 5) and header count (5); each header adds two lengths (5 + 5).
 */
const RECORD_OVERHEAD_BYTES = 36
const HEADER_OVERHEAD_BYTES = 10

function bad(message: string): never {
  throw new EdgelogError('INVALID_REQUEST', message)
}

export function encodingOf(raw: string | undefined): Encoding {
  if (raw === undefined || raw === 'utf8' || raw === 'utf-8') return 'utf8'
  if (raw === 'base64') return 'base64'
  return bad(`encoding must be utf8 or base64, got ${JSON.stringify(raw)}`)
}

/**
 * A key, value or header value as the record encoder takes it: utf8 text stays a string (the
 * encoder writes it straight into the batch, with no array per string), base64 becomes bytes.
 */
function toField(value: unknown, what: string, encoding: Encoding): Uint8Array | string | null {
  if (value === null || value === undefined) return null
  if (typeof value !== 'string') bad(`${what} must be a string or null`)
  if (encoding === 'utf8') return value
  return fromBase64(value, what)
}

/** Encoded length of a field: UTF-8 bytes of a string, or the bytes' length. */
const fieldBytes = (field: Uint8Array | string | null): number => field === null ? 0 : typeof field === 'string' ? utf8Length(field) : field.byteLength

function fromBase64(value: string, what: string): Uint8Array {
  try {
    const bin = atob(value)
    const out = new Uint8Array(bin.length)
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
    return out
  } catch {
    return bad(`${what} is not valid base64`)
  }
}

function fromBytes(bytes: Uint8Array | null, encoding: Encoding): string | null {
  if (bytes === null) return null
  if (encoding === 'utf8') return decoder.decode(bytes)
  let bin = ''
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(bin)
}

/**
 * Validates the JSON records and groups them into batches per partition: an explicit
 * `partition`, else Kafka's murmur2 of the key, else (keyless) one partition chosen at random
 * for the whole request (Kafka's sticky partitioning).
 */
export function toPartitionBatches(
  records: unknown, partitions: number,
  options: {
    forcedPartition?: number; encoding: Encoding; maxRecords: number; maxBatchBytes: number; targetBatchBytes?: number; limitName?: string
    /** The topic is compacted: every record needs a key (the partition would refuse its batch). */
    requireKeys?: boolean
  },
): PartitionRecords[] {
  if (!Array.isArray(records) || records.length === 0) bad('records must be a non-empty array')
  if (records.length > options.maxRecords) {
    throw new EdgelogError('RECORD_LIST_TOO_LARGE', `At most ${options.maxRecords} records per request, got ${records.length}`)
  }
  const sticky = Math.floor(Math.random() * partitions)
  const now = Date.now()
  const byPartition = new Map<number, { indexes: number[]; inputs: RecordInput[]; sizes: number[] }>()
  records.forEach((raw, i) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad(`records[${i}] must be an object`)
    const r = raw as Record<string, unknown>
    if (!('value' in r)) bad(`records[${i}].value is required (a string, or null for a tombstone)`)
    const key = toField(r.key, `records[${i}].key`, options.encoding)
    const value = toField(r.value, `records[${i}].value`, options.encoding)
    if (key === null && options.requireKeys) throw new EdgelogError('INVALID_RECORD', `records[${i}] has no key: a compacted topic takes only records with a key; nothing was stored`)
    let timestamp = now
    if (r.timestamp !== undefined) {
      if (typeof r.timestamp !== 'number' || !Number.isSafeInteger(r.timestamp) || r.timestamp < 0) {
        throw new EdgelogError('INVALID_TIMESTAMP', `records[${i}].timestamp must be a non-negative integer (ms since epoch)`)
      }
      timestamp = r.timestamp
    }
    const headers: Array<{ key: string; value: Uint8Array | null }> = []
    let headerBytes = 0
    if (r.headers !== undefined && r.headers !== null) {
      const list = Array.isArray(r.headers)
        ? r.headers.map((h, j) => {
          if (typeof h !== 'object' || h === null || typeof (h as { key?: unknown }).key !== 'string') bad(`records[${i}].headers[${j}] must be { key, value }`)
          return [(h as { key: string }).key, (h as { value?: unknown }).value] as const
        })
        : typeof r.headers === 'object' ? Object.entries(r.headers as object) : bad(`records[${i}].headers must be an object or an array`)
      for (const [k, v] of list) {
        const field = toField(v, `records[${i}].headers.${k}`, options.encoding)
        // Header values are bytes in the record encoder.
        const bytes = typeof field === 'string' ? encoder.encode(field) : field
        headers.push({ key: k, value: bytes })
        headerBytes += HEADER_OVERHEAD_BYTES + utf8Length(k) + (bytes?.byteLength ?? 0)
      }
    }
    let partition: number
    if (options.forcedPartition !== undefined) {
      if (r.partition !== undefined && r.partition !== options.forcedPartition) bad(`records[${i}].partition differs from the partition in the path`)
      if (options.forcedPartition >= partitions) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `The topic has no partition ${options.forcedPartition} (it has ${partitions})`)
      partition = options.forcedPartition
    } else if (r.partition !== undefined && r.partition !== null) {
      if (typeof r.partition !== 'number' || !Number.isInteger(r.partition) || r.partition < 0) bad(`records[${i}].partition must be a non-negative integer`)
      if (r.partition >= partitions) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `records[${i}].partition ${r.partition}: the topic has ${partitions} partitions`)
      partition = r.partition
    } else if (key !== null) {
      partition = toPositive(murmur2(typeof key === 'string' ? utf8InScratch(key) : keyBytes(key))) % partitions
    } else {
      partition = sticky
    }
    let group = byPartition.get(partition)
    if (!group) byPartition.set(partition, (group = { indexes: [], inputs: [], sizes: [] }))
    group.indexes.push(i)
    group.inputs.push({ key, value, timestamp, headers })
    group.sizes.push(RECORD_OVERHEAD_BYTES + fieldBytes(key) + fieldBytes(value) + headerBytes)
  })
  // Every batch fits the limit: records are packed (to the target size) by an upper bound of
  // their encoded size, and a record that needs a batch of its own is measured exactly. One
  // that cannot fit refuses the whole request, before anything is stored.
  const limit = options.maxBatchBytes
  const room = Math.min(options.targetBatchBytes ?? BATCH_TARGET_BYTES, limit) - BATCH_HEADER_BYTES
  const tooLarge = (i: number, bytes: number): never => {
    throw new EdgelogError('MESSAGE_TOO_LARGE', `records[${i}] needs a record batch of ${bytes} bytes, over the limit of ${limit} bytes (${options.limitName ?? 'max.message.bytes'}); nothing was stored`)
  }
  const out: PartitionRecords[] = []
  for (const [partition, group] of byPartition) {
    const batches: Uint8Array[] = []
    const counts: number[] = []
    const emit = (start: number, end: number) => {
      const batch = encodeBatch(group.inputs.slice(start, end))
      if (batch.byteLength > limit) tooLarge(group.indexes[start], batch.byteLength)
      batches.push(batch)
      counts.push(end - start)
    }
    let start = 0
    let bytes = 0
    for (let i = 0; i < group.inputs.length; i++) {
      if (i > start && bytes + group.sizes[i] > room) {
        emit(start, i)
        start = i
        bytes = 0
      }
      bytes += group.sizes[i]
    }
    emit(start, group.inputs.length)
    out.push({ partition, indexes: group.indexes, batches, counts })
  }
  return out
}

/**
 * The records of `batches` at or after `fromOffset`, as JSON. Transaction markers are never
 * records; given the fetch's aborted transactions (read_committed), neither are the records of
 * those transactions.
 */
export async function toJsonRecords(batches: Uint8Array[], fromOffset: number, encoding: Encoding, abortedTransactions?: Array<{ producerId: number; firstOffset: number }>): Promise<JsonRecordOut[]> {
  const out: JsonRecordOut[] = []
  const filter = new CommittedFilter(abortedTransactions)
  for (const batch of batches) {
    if (!filter.keep(readBatchHeader(batch), batch)) continue
    const { records } = await decodeBatch(batch)
    for (const r of records) if (r.offset >= fromOffset) out.push(toJsonRecord(r, encoding))
  }
  return out
}

export function toJsonRecord(r: DecodedRecord, encoding: Encoding): JsonRecordOut {
  const headers: Record<string, string | null> = {}
  for (const h of r.headers) headers[h.key] = fromBytes(h.value, encoding)
  return { offset: r.offset, timestamp: r.timestamp, key: fromBytes(r.key, encoding), value: fromBytes(r.value, encoding), headers }
}
