/**
 * Kafka RecordBatch v2 (magic 2), byte for byte.
 *
 *   0 baseOffset int64 | 8 batchLength int32 | 12 partitionLeaderEpoch int32 | 16 magic int8 (2)
 *  17 crc uint32 (CRC-32C of bytes 21..end) | 21 attributes int16 | 23 lastOffsetDelta int32
 *  27 baseTimestamp int64 | 35 maxTimestamp int64 | 43 producerId int64 | 51 producerEpoch int16
 *  53 baseSequence int32 | 57 records count int32 | 61 records (compressed as a whole if bits 0-2
 *  of attributes say so)
 *
 *  record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *          keyLength varint (-1 null) | key | valueLength varint (-1 null) | value |
 *          header count varint | per header: keyLength varint, utf8 key, valueLength varint (-1 null), value
 *
 * The encoder computes the exact size first and writes once into one Uint8Array; records with
 * string keys or values are written straight into a reused buffer (no per-string allocation,
 * the UTF-8 length known only once written) and copied out once. The decoder returns keys and
 * values as views into the given bytes (no copies).
 */
import { EdgelogError } from '../errors.ts'
import {
  getInt64,
  putInt64,
  putVarint,
  putVarlong,
  readUtf8,
  sizeOfVarint,
  sizeOfVarlong,
  utf8Length,
  writeUtf8,
} from './bytes.ts'
import { COMPRESSION_BY_ID, COMPRESSION_IDS, compress, decompress } from './compression.ts'
import { crc32c } from './crc32c.ts'

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd'
export interface RecordHeaderEntry { key: string; value: Uint8Array | null }
export interface RecordInput {
  /** Bytes, or a string: written as UTF-8 (what KafkaJS users send), straight into the batch. */
  key: Uint8Array | string | null
  value: Uint8Array | string | null
  timestamp: number
  headers?: RecordHeaderEntry[]
  /** Default: the record's index in the array. */
  offsetDelta?: number
}
export interface EncodeOptions {
  baseOffset?: number
  /** Default -1 (Kafka's NO_PARTITION_LEADER_EPOCH). */
  partitionLeaderEpoch?: number
  /** Default -1. */
  producerId?: number
  /** Default -1. */
  producerEpoch?: number
  /** Default -1. */
  baseSequence?: number
  compression?: Compression
  /** Default: the largest offsetDelta (0 for an empty batch). */
  lastOffsetDelta?: number
  isTransactional?: boolean
  /** A control batch (transaction markers: core/codec/control-batch.ts). */
  isControl?: boolean
  timestampType?: 'CreateTime' | 'LogAppendTime'
  /** Default: the first record's timestamp (as Kafka's producer), -1 for an empty batch. */
  baseTimestamp?: number
}
export interface BatchHeader {
  baseOffset: number
  batchLength: number
  /** batchLength + 12: the whole batch's size in bytes. */
  sizeBytes: number
  partitionLeaderEpoch: number
  magic: number
  crc: number
  attributes: number
  compression: Compression
  timestampType: 'CreateTime' | 'LogAppendTime'
  isTransactional: boolean
  isControl: boolean
  lastOffsetDelta: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: number
  producerEpoch: number
  baseSequence: number
  recordCount: number
}
export interface DecodedRecord {
  /** baseOffset + offsetDelta */
  offset: number
  /** baseTimestamp + timestampDelta, or the batch's maxTimestamp for LogAppendTime batches */
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  /** Records without headers share one frozen empty array. */
  headers: RecordHeaderEntry[]
  attributes: number
}

export const BATCH_HEADER_BYTES = 61
/** Bytes before batchLength starts counting (baseOffset + batchLength). */
export const LOG_OVERHEAD = 12
export const MAGIC = 2
/** Start of the CRC-covered region (attributes). */
export const CRC_START = 21

const ATTR_COMPRESSION_MASK = 0x07
const ATTR_LOG_APPEND_TIME = 0x08
const ATTR_TRANSACTIONAL = 0x10
const ATTR_CONTROL = 0x20

function corrupt(message: string): EdgelogError {
  return new EdgelogError('CORRUPT_MESSAGE', message)
}
function invalid(message: string): EdgelogError {
  return new EdgelogError('INVALID_RECORD', message)
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** Per-record body sizes of the batch being encoded (reused between calls). */
let scratch = new Int32Array(1024)

interface Plan {
  recordsBytes: number
  baseTimestamp: number
  maxTimestamp: number
  lastOffsetDelta: number
}

function headersSize(headers: RecordHeaderEntry[]): number {
  let size = sizeOfVarint(headers.length)
  for (let j = 0; j < headers.length; j++) {
    const h = headers[j]
    if (typeof h.key !== 'string') throw invalid('header key must be a string')
    const kl = utf8Length(h.key)
    size += sizeOfVarint(kl) + kl
    const v = h.value
    size += v == null ? 1 : sizeOfVarint(v.length) + v.length
  }
  return size
}

/** Sizes every record exactly, or answers null when a key or value is a string (see writeLoose). */
function plan(records: RecordInput[], options: EncodeOptions): Plan | null {
  const n = records.length
  if (scratch.length < n) scratch = new Int32Array(Math.max(n, scratch.length * 2))
  const sizes = scratch
  let baseTimestamp = options.baseTimestamp ?? (n > 0 ? records[0].timestamp : -1)
  if (!Number.isSafeInteger(baseTimestamp)) throw invalid(`baseTimestamp must be an integer: ${baseTimestamp}`)
  let maxTimestamp = n > 0 ? -Infinity : -1
  let prevDelta = -1
  let total = 0
  for (let i = 0; i < n; i++) {
    const r = records[i]
    const ts = r.timestamp
    const tsDelta = ts - baseTimestamp
    const od = checkedOffsetDelta(r, i, tsDelta, prevDelta)
    if (ts > maxTimestamp) maxTimestamp = ts
    prevDelta = od
    const key = r.key
    const value = r.value
    if (typeof key === 'string' || typeof value === 'string') return null
    let size = 1 + sizeOfVarlong(tsDelta) + sizeOfVarint(od)
    size += key == null ? 1 : sizeOfVarint(key.length) + key.length
    size += value == null ? 1 : sizeOfVarint(value.length) + value.length
    const headers = r.headers
    size += headers === undefined || headers.length === 0 ? 1 : headersSize(headers)
    sizes[i] = size
    total += sizeOfVarint(size) + size
  }
  const lastOffsetDelta = options.lastOffsetDelta ?? (n > 0 ? prevDelta : 0)
  if ((lastOffsetDelta | 0) !== lastOffsetDelta || lastOffsetDelta < prevDelta) {
    throw invalid(`lastOffsetDelta ${lastOffsetDelta} is smaller than the last record's offsetDelta ${prevDelta}`)
  }
  return { recordsBytes: total, baseTimestamp, maxTimestamp, lastOffsetDelta }
}

function writeRecords(out: Uint8Array, pos: number, records: RecordInput[], baseTimestamp: number): number {
  const sizes = scratch
  const n = records.length
  for (let i = 0; i < n; i++) {
    const r = records[i]
    pos = putVarint(out, pos, sizes[i])
    out[pos++] = 0 // attributes
    const tsDelta = r.timestamp - baseTimestamp
    if (tsDelta >= 0 && tsDelta < 64) out[pos++] = tsDelta << 1
    else pos = putVarlong(out, pos, tsDelta)
    const od = r.offsetDelta ?? i
    if (od < 64) out[pos++] = od << 1
    else pos = putVarint(out, pos, od)
    const key = r.key as Uint8Array | null // plan() sent records with strings to writeLoose
    if (key == null) out[pos++] = 1
    else {
      const kl = key.length
      pos = putVarint(out, pos, kl)
      if (kl > 0) { out.set(key, pos); pos += kl }
    }
    const value = r.value as Uint8Array | null
    if (value == null) out[pos++] = 1
    else {
      const vl = value.length
      pos = putVarint(out, pos, vl)
      if (vl > 0) { out.set(value, pos); pos += vl }
    }
    const headers = r.headers
    if (headers === undefined || headers.length === 0) out[pos++] = 0
    else pos = writeHeaders(out, pos, headers)
  }
  return pos
}

function writeHeaders(out: Uint8Array, pos: number, headers: RecordHeaderEntry[]): number {
  pos = putVarint(out, pos, headers.length)
  for (let j = 0; j < headers.length; j++) {
    const h = headers[j]
    pos = putVarint(out, pos, utf8Length(h.key))
    pos = writeUtf8(out, pos, h.key)
    const v = h.value
    if (v == null) out[pos++] = 1
    else {
      pos = putVarint(out, pos, v.length)
      out.set(v, pos)
      pos += v.length
    }
  }
  return pos
}

// Records with string keys or values. A string's UTF-8 length is known only once it is written
// (counting it first would read every string twice), so each record goes straight into one
// reused buffer: its length varints get the width their lower bound needs (a string's UTF-8
// length is at least its length), and the rare record or string whose length needs a wider
// varint is moved up by a byte or two. The batch is then copied out once, at its exact size.

/** The reused buffer writeLoose writes into; dropped back to its first size after a large batch. */
const LOOSE_INITIAL = 1 << 16
let loose = new Uint8Array(LOOSE_INITIAL)
const textEncoder = new TextEncoder()
/** Shorter strings are written by a JS loop; longer ones by TextEncoder.encodeInto. */
const SHORT_STRING = 32

/** The loose buffer, with room for `need` more bytes at `pos` (what is written is kept). */
function looseRoom(pos: number, need: number): Uint8Array {
  if (pos + need > loose.length) {
    const next = new Uint8Array(Math.max(pos + need, loose.length * 2))
    next.set(loose.subarray(0, pos))
    loose = next
  }
  return loose
}

/**
 * encodeInto's target for strings of up to STAGE_BYTES / 3 units: a fixed buffer and its views
 * by length, made once. Encoding there and copying costs less than a view of the batch buffer
 * made per string (~100 bytes of garbage per record, what most of the producer's scavenges were).
 */
const STAGE_BYTES = 3 << 10
const stage = new Uint8Array(STAGE_BYTES)
const stageViews: Uint8Array[] = []

/** Writes `s` as UTF-8 at `pos` (room for 3 bytes per UTF-16 unit must exist); the new position. */
function putString(out: Uint8Array, pos: number, s: string): number {
  const n = s.length
  if (n > SHORT_STRING) {
    if (n * 3 > STAGE_BYTES) return pos + textEncoder.encodeInto(s, out.subarray(pos)).written
    const written = textEncoder.encodeInto(s, stage).written
    out.set((stageViews[written] ??= stage.subarray(0, written)), pos)
    return pos + written
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) return writeUtf8(out, pos, s) // not ASCII: write it all again, multi-byte
    out[pos + i] = c
  }
  return pos + n
}

/** Writes the varint length and the bytes of `s`; the new position. */
function putLengthAndString(out: Uint8Array, pos: number, s: string): number {
  const reserved = sizeOfVarint(s.length)
  const start = pos + reserved
  const end = putString(out, start, s)
  const n = end - start
  const width = sizeOfVarint(n)
  if (width !== reserved) out.copyWithin(pos + width, start, end)
  putVarint(out, pos, n)
  return pos + width + n
}

/** Upper bound of a key's or value's bytes with its length. */
function boundOf(v: Uint8Array | string | null): number {
  return v == null ? 1 : typeof v === 'string' ? 5 + 3 * v.length : 5 + v.length
}

/**
 * Checks and writes the records into the loose buffer from `at`; answers where they end, with
 * the batch's timestamps and last offset delta (as plan() does).
 */
function writeLoose(records: RecordInput[], options: EncodeOptions, at: number): Plan & { end: number } {
  const n = records.length
  const baseTimestamp = options.baseTimestamp ?? (n > 0 ? records[0].timestamp : -1)
  if (!Number.isSafeInteger(baseTimestamp)) throw invalid(`baseTimestamp must be an integer: ${baseTimestamp}`)
  let maxTimestamp = n > 0 ? -Infinity : -1
  let prevDelta = -1
  let pos = at
  for (let i = 0; i < n; i++) {
    const r = records[i]
    const ts = r.timestamp
    const tsDelta = ts - baseTimestamp
    const od = checkedOffsetDelta(r, i, tsDelta, prevDelta)
    if (ts > maxTimestamp) maxTimestamp = ts
    prevDelta = od
    const key = r.key
    const value = r.value
    const headers = r.headers
    const headersBytes = headers === undefined || headers.length === 0 ? 1 : headersSize(headers)
    const out = looseRoom(pos, 5 + 1 + 10 + 5 + boundOf(key) + boundOf(value) + headersBytes)
    // The record's length goes first: reserve the width its usual size needs, fix it after.
    const reserved = sizeOfVarint(8 + (key == null ? 0 : key.length) + (value == null ? 0 : value.length))
    const bodyStart = pos + reserved
    let p = bodyStart
    out[p++] = 0 // attributes
    if (tsDelta >= 0 && tsDelta < 64) out[p++] = tsDelta << 1
    else p = putVarlong(out, p, tsDelta)
    if (od < 64) out[p++] = od << 1
    else p = putVarint(out, p, od)
    if (key == null) out[p++] = 1
    else if (typeof key === 'string') p = putLengthAndString(out, p, key)
    else {
      p = putVarint(out, p, key.length)
      out.set(key, p)
      p += key.length
    }
    if (value == null) out[p++] = 1
    else if (typeof value === 'string') p = putLengthAndString(out, p, value)
    else {
      p = putVarint(out, p, value.length)
      out.set(value, p)
      p += value.length
    }
    if (headersBytes === 1) out[p++] = 0
    else p = writeHeaders(out, p, headers!)
    const size = p - bodyStart
    const width = sizeOfVarint(size)
    if (width !== reserved) out.copyWithin(pos + width, bodyStart, p)
    putVarint(out, pos, size)
    pos += width + size
  }
  const lastOffsetDelta = options.lastOffsetDelta ?? (n > 0 ? prevDelta : 0)
  if ((lastOffsetDelta | 0) !== lastOffsetDelta || lastOffsetDelta < prevDelta) {
    throw invalid(`lastOffsetDelta ${lastOffsetDelta} is smaller than the last record's offsetDelta ${prevDelta}`)
  }
  return { recordsBytes: pos - at, baseTimestamp, maxTimestamp, lastOffsetDelta, end: pos }
}

/** A copy of the loose buffer's `[start, end)`, at its exact size; a large buffer is let go. */
function takeLoose(start: number, end: number): Uint8Array {
  const out = loose.slice(start, end)
  if (loose.length > 16 << 20) loose = new Uint8Array(LOOSE_INITIAL)
  return out
}

function checkInt(name: string, v: number, min: number, max: number): number {
  if (!Number.isSafeInteger(v) || v < min || v > max) throw invalid(`${name} out of range: ${v}`)
  return v
}

/** Writes the 61-byte header for a batch whose records (maybe compressed) already sit at 61.. */
function writeHeader(out: Uint8Array, recordCount: number, p: Plan, options: EncodeOptions, compression: Compression): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
  const attributes =
    COMPRESSION_IDS[compression] |
    (options.timestampType === 'LogAppendTime' ? ATTR_LOG_APPEND_TIME : 0) |
    (options.isTransactional ? ATTR_TRANSACTIONAL : 0) |
    (options.isControl ? ATTR_CONTROL : 0)
  putInt64(view, 0, checkInt('baseOffset', options.baseOffset ?? 0, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
  view.setInt32(8, out.length - LOG_OVERHEAD)
  view.setInt32(12, checkInt('partitionLeaderEpoch', options.partitionLeaderEpoch ?? -1, -0x80000000, 0x7fffffff))
  view.setInt8(16, MAGIC)
  view.setInt16(21, attributes)
  view.setInt32(23, p.lastOffsetDelta)
  putInt64(view, 27, p.baseTimestamp)
  putInt64(view, 35, p.maxTimestamp)
  putInt64(view, 43, checkInt('producerId', options.producerId ?? -1, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
  view.setInt16(51, checkInt('producerEpoch', options.producerEpoch ?? -1, -0x8000, 0x7fff))
  view.setInt32(53, checkInt('baseSequence', options.baseSequence ?? -1, -0x80000000, 0x7fffffff))
  view.setInt32(57, recordCount)
  view.setUint32(17, crc32c(out, CRC_START, out.length))
}

/** Encodes one uncompressed batch, synchronously. Throws for any compression but 'none'. */
/** A record's offset delta, once its timestamp (delta) and offset delta are checked: integers, deltas rising. */
function checkedOffsetDelta(r: RecordInput, i: number, tsDelta: number, prevDelta: number): number {
  if (!Number.isSafeInteger(r.timestamp) || !Number.isSafeInteger(tsDelta)) throw invalid(`record ${i}: timestamp must be an integer: ${r.timestamp}`)
  const od = r.offsetDelta ?? i
  if (!(od > prevDelta) || od > 0x7fffffff || (od | 0) !== od) throw invalid(`record ${i}: offsetDelta ${od} must be an int32 greater than the previous one`)
  return od
}

export function encodeBatch(records: RecordInput[], options: EncodeOptions = {}): Uint8Array {
  const compression = options.compression ?? 'none'
  if (compression !== 'none') {
    if (!(compression in COMPRESSION_IDS)) throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `unknown compression '${compression}'`)
    throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `encodeBatch is synchronous: use encodeBatchAsync for compression '${compression}'`)
  }
  const p = plan(records, options)
  if (p === null) {
    const l = writeLoose(records, options, BATCH_HEADER_BYTES)
    const out = takeLoose(0, l.end)
    writeHeader(out, records.length, l, options, 'none')
    return out
  }
  const out = new Uint8Array(BATCH_HEADER_BYTES + p.recordsBytes)
  const end = writeRecords(out, BATCH_HEADER_BYTES, records, p.baseTimestamp)
  if (end !== out.length) throw new EdgelogError('UNKNOWN_SERVER_ERROR', `record batch size mismatch: ${end} != ${out.length}`)
  writeHeader(out, records.length, p, options, 'none')
  return out
}

/** Encodes one batch with any of Kafka's codecs (none, gzip, snappy, lz4, zstd). */
export async function encodeBatchAsync(records: RecordInput[], options: EncodeOptions = {}): Promise<Uint8Array> {
  const compression = options.compression ?? 'none'
  if (compression === 'none') return encodeBatch(records, options)
  if (!(compression in COMPRESSION_IDS)) throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `unknown compression '${compression}'`)
  const planned = plan(records, options)
  let p: Plan
  let raw: Uint8Array
  if (planned === null) {
    const l = writeLoose(records, options, 0)
    p = l
    raw = takeLoose(0, l.end)
  } else {
    p = planned
    raw = new Uint8Array(p.recordsBytes)
    writeRecords(raw, 0, records, p.baseTimestamp)
  }
  const packed = await compress(compression, raw)
  const out = new Uint8Array(BATCH_HEADER_BYTES + packed.length)
  out.set(packed, BATCH_HEADER_BYTES)
  writeHeader(out, records.length, p, options, compression)
  return out
}

// ---------------------------------------------------------------------------------------------
// Header

/** Reads and sanity-checks the header of the batch starting at `at`. */
export function readBatchHeader(bytes: Uint8Array, at = 0): BatchHeader {
  if (at < 0 || bytes.length - at < BATCH_HEADER_BYTES) {
    throw corrupt(`record batch truncated: ${Math.max(0, bytes.length - at)} bytes, the header alone takes ${BATCH_HEADER_BYTES}`)
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BATCH_HEADER_BYTES)
  const batchLength = view.getInt32(8)
  const magic = view.getInt8(16)
  if (magic !== MAGIC) throw corrupt(`unsupported record batch magic ${magic} (only v2 record batches, magic 2)`)
  if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD) throw corrupt(`record batch length ${batchLength} smaller than the header`)
  const sizeBytes = batchLength + LOG_OVERHEAD
  if (sizeBytes > bytes.length - at) throw corrupt(`record batch length ${batchLength} past the end (${bytes.length - at - LOG_OVERHEAD} bytes available)`)
  const attributes = view.getInt16(21)
  const codec = attributes & ATTR_COMPRESSION_MASK
  if (codec > 4) throw corrupt(`unknown compression codec ${codec}`)
  const recordCount = view.getInt32(57)
  if (recordCount < 0) throw corrupt(`negative record count ${recordCount}`)
  return {
    baseOffset: getInt64(view, 0),
    batchLength,
    sizeBytes,
    partitionLeaderEpoch: view.getInt32(12),
    magic,
    crc: view.getUint32(17),
    attributes,
    compression: COMPRESSION_BY_ID[codec],
    timestampType: attributes & ATTR_LOG_APPEND_TIME ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & ATTR_TRANSACTIONAL) !== 0,
    isControl: (attributes & ATTR_CONTROL) !== 0,
    lastOffsetDelta: view.getInt32(23),
    baseTimestamp: getInt64(view, 27),
    maxTimestamp: getInt64(view, 35),
    producerId: getInt64(view, 43),
    producerEpoch: view.getInt16(51),
    baseSequence: view.getInt32(53),
    recordCount,
  }
}

// ---------------------------------------------------------------------------------------------
// Records

// Slow-path varint readers for the record parser: they return the new position and leave the
// value in `rv` (no allocation). The parser inlines the one-byte case.
let rv = 0

function readVarintAt(buf: Uint8Array, pos: number, end: number): number {
  let v = 0
  for (let shift = 0; ; shift += 7) {
    if (pos >= end) throw corrupt('varint past the end of its record')
    const b = buf[pos++]
    if (shift === 28) {
      if (b & 0x80) throw corrupt('varint longer than 5 bytes')
      v |= b << 28
      break
    }
    v |= (b & 0x7f) << shift
    if (b < 0x80) break
  }
  rv = (v >>> 1) ^ -(v & 1)
  return pos
}

function readVarlongAt(buf: Uint8Array, pos: number, end: number): number {
  if (pos >= end) throw corrupt('varlong past the end of its record')
  let b = buf[pos++]
  const sign = b & 1
  let m = (b & 0x7f) >>> 1
  if (b >= 0x80) {
    let mul = 64
    for (let i = 1; ; i++) {
      if (i === 10) throw corrupt('varlong longer than 10 bytes')
      if (pos >= end) throw corrupt('varlong past the end of its record')
      b = buf[pos++]
      m += (b & 0x7f) * mul
      if (b < 0x80) break
      mul *= 128
    }
    if (m > Number.MAX_SAFE_INTEGER) throw corrupt('varlong outside the safe integer range')
  }
  rv = sign ? -m - 1 : m
  return pos
}

function parseHeaders(buf: Uint8Array, pos: number, end: number, count: number, headers: RecordHeaderEntry[]): number {
  if (count < 0 || count * 2 > end - pos) throw corrupt(`header count ${count} out of bounds`)
  for (let j = 0; j < count; j++) {
    pos = readVarintAt(buf, pos, end)
    const kl = rv
    if (kl < 0 || kl > end - pos) throw corrupt(`header key length ${kl} out of bounds`)
    const key = readUtf8(buf, pos, pos + kl)
    pos += kl
    pos = readVarintAt(buf, pos, end)
    const vl = rv
    let value: Uint8Array | null = null
    if (vl >= 0) {
      if (vl > end - pos) throw corrupt(`header value length ${vl} past the end of its record`)
      value = buf.subarray(pos, pos + vl)
      pos += vl
    } else if (vl !== -1) throw corrupt(`header value length ${vl}`)
    headers.push({ key, value })
  }
  return pos
}

/** Shared by every decoded record without headers (frozen: copy before adding headers). */
const NO_HEADERS = Object.freeze([]) as unknown as RecordHeaderEntry[]

/**
 * Makes the view a decoded key or value is handed as. Callers may pass their own (a Uint8Array
 * subclass, say) so that records need no second wrapping; it gets the underlying buffer.
 */
export type ViewFactory = (buffer: ArrayBuffer, byteOffset: number, length: number) => Uint8Array
const plainView: ViewFactory = (buffer, byteOffset, length) => new Uint8Array(buffer, byteOffset, length)

/**
 * Builds what a decoded record is handed out as (a DecodedRecord, or the consumer's message
 * built straight from the fields, with no intermediate object).
 */
export type RecordMaker<T> = (offset: number, timestamp: number, key: Uint8Array | null, value: Uint8Array | null, headers: RecordHeaderEntry[], attributes: number) => T
const decodedRecord: RecordMaker<DecodedRecord> = (offset, timestamp, key, value, headers, attributes) => ({ offset, timestamp, key, value, headers, attributes })

/**
 * Parses `count` records from `buf[start, end)`, which they must fill exactly, into `out`.
 * Records below offset `from` are checked as the others but not built (no views, no object).
 */
function parseRecords<T>(
  buf: Uint8Array, start: number, end: number, header: BatchHeader, makeView: ViewFactory, make: RecordMaker<T>, out: T[], from: number,
): T[] {
  const count = header.recordCount
  // Read once per batch: `.buffer` and `.byteOffset` per record cost more than the view itself.
  const arrayBuffer = buf.buffer as ArrayBuffer
  const base = buf.byteOffset
  // every record takes at least 7 bytes: refuse absurd counts before allocating anything
  if (count * 7 > end - start) throw corrupt(`record count ${count} cannot fit in ${end - start} bytes`)
  const baseOffset = header.baseOffset
  const baseTimestamp = header.baseTimestamp
  const logAppendTime = header.timestampType === 'LogAppendTime'
  const maxTimestamp = header.maxTimestamp
  const lastOffsetDelta = header.lastOffsetDelta
  // Offsets below this delta are skipped (built neither views nor records).
  const fromDelta = from - baseOffset
  let prevDelta = -1
  let pos = start
  let b = 0
  for (let i = 0; i < count; i++) {
    // length
    if (pos < end && (b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarintAt(buf, pos, end)
    const len = rv
    if (len < 6 || len > end - pos) throw corrupt(`record ${i}: length ${len} out of bounds`)
    const rend = pos + len
    const attributes = (buf[pos++] << 24) >> 24
    // timestampDelta
    if ((b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarlongAt(buf, pos, rend)
    const tsDelta = rv
    // offsetDelta
    if (pos < rend && (b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarintAt(buf, pos, rend)
    const offsetDelta = rv
    if (offsetDelta <= prevDelta) throw invalid(`record ${i}: offsetDelta ${offsetDelta} not greater than the previous ${prevDelta}`)
    if (offsetDelta > lastOffsetDelta) throw invalid(`record ${i}: offsetDelta ${offsetDelta} past lastOffsetDelta ${lastOffsetDelta}`)
    prevDelta = offsetDelta
    const build = offsetDelta >= fromDelta
    // key
    if (pos < rend && (b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarintAt(buf, pos, rend)
    let key: Uint8Array | null = null
    if (rv >= 0) {
      if (rv > rend - pos) throw corrupt(`record ${i}: key length ${rv} past the end of the record`)
      if (build) key = makeView(arrayBuffer, base + pos, rv)
      pos += rv
    } else if (rv !== -1) throw corrupt(`record ${i}: key length ${rv}`)
    // value
    if (pos < rend && (b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarintAt(buf, pos, rend)
    let value: Uint8Array | null = null
    if (rv >= 0) {
      if (rv > rend - pos) throw corrupt(`record ${i}: value length ${rv} past the end of the record`)
      if (build) value = makeView(arrayBuffer, base + pos, rv)
      pos += rv
    } else if (rv !== -1) throw corrupt(`record ${i}: value length ${rv}`)
    // headers
    if (pos < rend && (b = buf[pos]) < 0x80) { rv = (b >>> 1) ^ -(b & 1); pos++ } else pos = readVarintAt(buf, pos, rend)
    let headers = NO_HEADERS
    if (rv !== 0) {
      headers = []
      pos = parseHeaders(buf, pos, rend, rv, headers)
    }
    if (pos !== rend) throw corrupt(`record ${i}: ${rend - pos} bytes left over inside the record`)
    if (build) out.push(make(baseOffset + offsetDelta, logAppendTime ? maxTimestamp : baseTimestamp + tsDelta, key, value, headers, attributes))
  }
  if (pos !== end) throw corrupt(`${end - pos} bytes after the last of ${count} records`)
  return out
}

function safe<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    if (e instanceof EdgelogError) throw e
    throw new EdgelogError('CORRUPT_MESSAGE', `malformed record batch: ${(e as Error)?.message ?? e}`, { cause: e })
  }
}

/**
 * Decodes the records of one uncompressed batch starting at bytes[0]. Keys and values are
 * views into `bytes`. Does not check the CRC (validateBatch does). A compressed batch throws
 * UNSUPPORTED_FOR_MESSAGE_FORMAT: use decodeBatch.
 */
export function decodeRecords(bytes: Uint8Array, header?: BatchHeader, makeView?: ViewFactory): DecodedRecord[] {
  return decodeRecordsInto(bytes, header, [], decodedRecord, makeView)
}

/**
 * decodeRecords, with each record built by `make` (no DecodedRecord in between) and appended to
 * `out`; records below offset `from` are checked but not built. Returns `out`.
 */
export function decodeRecordsInto<T>(bytes: Uint8Array, header: BatchHeader | undefined, out: T[], make: RecordMaker<T>, makeView: ViewFactory = plainView, from = -Infinity): T[] {
  return safe(() => {
    const h = header ?? readBatchHeader(bytes, 0)
    if (h.compression !== 'none') {
      throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `decodeRecords reads uncompressed batches only (this one is ${h.compression}): use decodeBatch`)
    }
    if (h.sizeBytes > bytes.length) throw corrupt(`record batch length ${h.batchLength} past the end`)
    return parseRecords(bytes, BATCH_HEADER_BYTES, h.sizeBytes, h, makeView, make, out, from)
  })
}

/**
 * Decodes one batch (bytes[0..]) with any of Kafka's codecs; a compressed batch inflates to at
 * most `maxInflatedBytes` (default DEFAULT_MAX_INFLATED_BYTES), else MESSAGE_TOO_LARGE.
 */
export async function decodeBatch(bytes: Uint8Array, makeView?: ViewFactory, maxInflatedBytes?: number): Promise<{ header: BatchHeader; records: DecodedRecord[] }> {
  const header = safe(() => readBatchHeader(bytes, 0))
  return { header, records: await decodeBatchInto(bytes, header, [], decodedRecord, makeView, -Infinity, maxInflatedBytes) }
}

/** decodeBatch as decodeRecordsInto: records built by `make` into `out`, those below `from` skipped. */
export async function decodeBatchInto<T>(
  bytes: Uint8Array, header: BatchHeader, out: T[], make: RecordMaker<T>, makeView: ViewFactory = plainView, from = -Infinity, maxInflatedBytes?: number,
): Promise<T[]> {
  if (header.compression === 'none') return decodeRecordsInto(bytes, header, out, make, makeView, from)
  const raw = await decompress(header.compression, bytes.subarray(BATCH_HEADER_BYTES, header.sizeBytes), maxInflatedBytes)
  return safe(() => parseRecords(raw, 0, raw.length, header, makeView, make, out, from))
}

/**
 * Checks that `bytes` is exactly one well-formed batch: header, exact length, CRC, every record
 * (decompressed if need be) parsed within bounds, count, offsetDeltas strictly increasing and
 * <= lastOffsetDelta, at least one record. Throws EdgelogError CORRUPT_MESSAGE (an unknown codec
 * id 5-7 included) or INVALID_RECORD; MESSAGE_TOO_LARGE for records inflating past
 * `maxInflatedBytes` (default DEFAULT_MAX_INFLATED_BYTES: a decompression bomb).
 */
export async function validateBatch(bytes: Uint8Array, maxInflatedBytes?: number): Promise<BatchHeader> {
  const header = safe(() => {
    const h = readBatchHeader(bytes, 0)
    if (h.sizeBytes !== bytes.length) throw corrupt(`record batch length ${h.batchLength} does not match the ${bytes.length} bytes given`)
    const crc = crc32c(bytes, CRC_START, bytes.length)
    if (crc !== h.crc) throw corrupt(`record batch CRC mismatch: stored ${h.crc}, computed ${crc}`)
    if (h.recordCount < 1) throw invalid('record batch has no records')
    return h
  })
  if (header.compression === 'none') {
    safe(() => parseRecords(bytes, BATCH_HEADER_BYTES, bytes.length, header, plainView, decodedRecord, [], Infinity))
  } else {
    let raw: Uint8Array
    try {
      raw = await decompress(header.compression, bytes.subarray(BATCH_HEADER_BYTES), maxInflatedBytes)
    } catch (e) {
      if (e instanceof EdgelogError) throw e
      throw corrupt(`cannot decompress record batch: ${(e as Error)?.message ?? e}`)
    }
    safe(() => parseRecords(raw, 0, raw.length, header, plainView, decodedRecord, [], Infinity))
  }
  return header
}

/** Splits concatenated batches into views of whole batches. CORRUPT_MESSAGE on a truncated tail. */
export function splitBatches(concatenated: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  const len = concatenated.length
  if (len === 0) return out
  const view = new DataView(concatenated.buffer, concatenated.byteOffset, concatenated.byteLength)
  let at = 0
  while (at < len) {
    if (len - at < BATCH_HEADER_BYTES) throw corrupt(`truncated record batch at byte ${at}: ${len - at} bytes left`)
    const batchLength = view.getInt32(at + 8)
    if (batchLength < BATCH_HEADER_BYTES - LOG_OVERHEAD) throw corrupt(`record batch at byte ${at}: length ${batchLength} smaller than the header`)
    const next = at + LOG_OVERHEAD + batchLength
    if (next > len) throw corrupt(`truncated record batch at byte ${at}: length ${batchLength}, ${len - at - LOG_OVERHEAD} bytes left`)
    out.push(concatenated.subarray(at, next))
    at = next
  }
  return out
}

/** Patches the batch's baseOffset (bytes 0..7, outside the CRC) in place. */
export function setBaseOffset(bytes: Uint8Array, baseOffset: number): void {
  if (!Number.isSafeInteger(baseOffset)) throw new RangeError(`baseOffset must be a safe integer: ${baseOffset}`)
  if (bytes.length < 8) throw corrupt('record batch truncated: no baseOffset')
  putInt64(new DataView(bytes.buffer, bytes.byteOffset, 8), 0, baseOffset)
}

/** The last offset of a batch: baseOffset + lastOffsetDelta (reads only the header fields). */
export function lastOffsetOf(bytes: Uint8Array, at = 0): number {
  const h = readBatchHeader(bytes, at)
  return h.baseOffset + h.lastOffsetDelta
}
