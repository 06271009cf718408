/**
 * KafkaJS-shaped messages, with Uint8Array where KafkaJS has Buffer. Values handed to
 * consumers are `RecordBytes`: a Uint8Array whose toString() decodes UTF-8, as a KafkaJS
 * user's `message.value.toString()` expects.
 */
import { EdgelogError } from '../errors.ts'
import type { DecodedRecord, RecordHeaderEntry, RecordInput, RecordMaker } from '../codec/record-batch.ts'

export type Bytes = Uint8Array | string
export type IHeaders = Record<string, Bytes | Bytes[] | undefined>

/** `V`/`K`: what the producer's serializers take (bytes or strings without serializers). */
export interface Message<V = Bytes, K = Bytes> {
  key?: K | null
  value: V | null
  partition?: number
  headers?: IHeaders
  /** Milliseconds since the epoch, as a string or number (KafkaJS: string). */
  timestamp?: string | number
}

/** `V`/`K`: what the consumer's deserializers return (RecordBytes without deserializers). */
export interface KafkaMessage<V = RecordBytes, K = RecordBytes> {
  key: K | null
  value: V | null
  timestamp: string
  attributes: number
  offset: string
  headers: Record<string, RecordBytes | RecordBytes[] | undefined>
  size?: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const fromCharCode = String.fromCharCode

/**
 * A string of up to 16 ASCII bytes in one String.fromCharCode call (a flat string, about half
 * of a TextDecoder call for short keys); undefined when a byte is not ASCII or it is longer, for
 * TextDecoder. Bytes below 0x80 decode to the same code units in UTF-8, so the result is
 * TextDecoder's.
 */
function shortAscii(b: Uint8Array): string | undefined {
  const n = b.length
  if (n > 16) return undefined
  let or = 0
  for (let i = 0; i < n; i++) or |= b[i]
  if (or >= 0x80) return undefined
  switch (n) {
    case 0: return ''
    case 1: return fromCharCode(b[0])
    case 2: return fromCharCode(b[0], b[1])
    case 3: return fromCharCode(b[0], b[1], b[2])
    case 4: return fromCharCode(b[0], b[1], b[2], b[3])
    case 5: return fromCharCode(b[0], b[1], b[2], b[3], b[4])
    case 6: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5])
    case 7: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6])
    case 8: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7])
    case 9: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8])
    case 10: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9])
    case 11: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10])
    case 12: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11])
    case 13: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12])
    case 14: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13])
    case 15: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14])
    default: return fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15])
  }
}

/** UTF-8 as TextDecoder decodes it (invalid sequences as U+FFFD), short ASCII without it. */
export function decodeUtf8(bytes: Uint8Array): string {
  return shortAscii(bytes) ?? decoder.decode(bytes)
}

export class RecordBytes extends Uint8Array {
  override toString(encoding?: string): string {
    if (encoding === undefined) return shortAscii(this) ?? decoder.decode(this)
    if (encoding === 'hex') return Array.from(this, (b) => b.toString(16).padStart(2, '0')).join('')
    if (encoding === 'base64') return btoa(String.fromCharCode(...this))
    return decoder.decode(this)
  }
  toJSON(): string { return this.toString() }
}

function view(bytes: Uint8Array): RecordBytes {
  return bytes instanceof RecordBytes ? bytes : new RecordBytes(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength)
}

/** For the decoder: keys and values come out as RecordBytes directly, with no second view. */
export const recordBytesView = (buffer: ArrayBuffer, byteOffset: number, length: number): Uint8Array =>
  new RecordBytes(buffer, byteOffset, length)

/**
 * Decimal strings of offsets and timestamps, which KafkaJS hands out: consecutive numbers share
 * all but their last four digits, so those are converted once and the rest comes from a table.
 */
const LOW_DIGITS = Array.from({ length: 10_000 }, (_, i) => String(i).padStart(4, '0'))
class DecimalStrings {
  private high = -1
  private highText = ''
  /** The last number asked for: a batch's records often share their timestamp. */
  private last = -1
  private lastText = '-1'
  of(n: number): string {
    if (n === this.last) return this.lastText
    this.last = n
    return (this.lastText = this.digits(n))
  }
  private digits(n: number): string {
    if (n < 10_000) return String(n)
    const high = Math.floor(n / 10_000)
    if (high !== this.high) {
      this.high = high
      this.highText = String(high)
    }
    return this.highText + LOW_DIGITS[n - high * 10_000]
  }
}
const offsetStrings = new DecimalStrings()
const timestampStrings = new DecimalStrings()

export function toBytes(value: Bytes, what: string): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value)
  if (value instanceof Uint8Array) return value
  throw new EdgelogError('INVALID_RECORD', `${what} must be a string or a Uint8Array, got ${describe(value)}`)
}

/** A key or value as the encoder takes it: strings stay strings (written as UTF-8 into the batch). */
function checkBytes(value: Bytes, what: string): Uint8Array | string {
  if (typeof value === 'string' || value instanceof Uint8Array) return value
  throw new EdgelogError('INVALID_RECORD', `${what} must be a string or a Uint8Array, got ${describe(value)}`)
}

/**
 * Turns a producer message into a record to encode; INVALID_RECORD for anything malformed.
 * String keys and values are kept as strings: the encoder writes them straight into the batch.
 */
export function toRecordInput(message: Message, now: number): RecordInput {
  if (typeof message !== 'object' || message === null) throw new EdgelogError('INVALID_RECORD', `A message must be an object, got ${describe(message)}`)
  const mv = message.value
  if (mv === undefined) throw new EdgelogError('INVALID_RECORD', 'A message needs a value (null for a tombstone)')
  const mk = message.key
  const key = mk === undefined || mk === null ? null : typeof mk === 'string' ? mk : checkBytes(mk, 'key')
  const value = mv === null ? null : typeof mv === 'string' ? mv : checkBytes(mv, 'value')
  let timestamp = now
  if (message.timestamp !== undefined && message.timestamp !== null) {
    timestamp = Number(message.timestamp)
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new EdgelogError('INVALID_TIMESTAMP', `Invalid timestamp ${JSON.stringify(message.timestamp)}`)
    }
  }
  return { key, value, timestamp, headers: message.headers ? toHeaderEntries(message.headers) : undefined }
}

let keyScratch = new Uint8Array(256)
/** Views of the scratch's first n bytes, by n: made once, so that a key costs no allocation. */
let keyViews: Uint8Array[] = []
const scratchEncoder = new TextEncoder()

/**
 * The UTF-8 bytes of `s` in a reused buffer, as a view valid until the next call: for a
 * partitioner that only hashes the key (no array allocated per keyed message).
 */
export function utf8InScratch(s: string): Uint8Array {
  if (s.length * 3 > keyScratch.length) {
    keyScratch = new Uint8Array(s.length * 3)
    keyViews = []
  }
  const buf = keyScratch
  const n = s.length
  let i = 0
  for (; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0x80) break
    buf[i] = c
  }
  const length = i === n ? n : scratchEncoder.encodeInto(s, buf).written
  return (keyViews[length] ??= new Uint8Array(buf.buffer, 0, length))
}

function toHeaderEntries(headers: IHeaders): RecordHeaderEntry[] {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) {
    throw new EdgelogError('INVALID_RECORD', 'headers must be an object of string or Uint8Array values')
  }
  const entries: RecordHeaderEntry[] = []
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) entries.push({ key, value: v === null ? null : toBytes(v, `header '${key}'`) })
  }
  return entries
}

/** A decoded record as KafkaJS hands it to `eachMessage`. */
export function toKafkaMessage(record: DecodedRecord, size?: number): KafkaMessage {
  return {
    key: record.key === null ? null : view(record.key),
    value: record.value === null ? null : view(record.value),
    timestamp: timestampStrings.of(record.timestamp),
    attributes: record.attributes,
    offset: offsetStrings.of(record.offset),
    headers: headersObject(record.headers),
    size,
  }
}

function headersObject(entries: RecordHeaderEntry[]): KafkaMessage['headers'] {
  const headers: KafkaMessage['headers'] = {}
  for (const h of entries) {
    const value = h.value === null ? undefined : view(h.value)
    const existing = headers[h.key]
    if (existing === undefined || value === undefined) headers[h.key] = value
    else headers[h.key] = Array.isArray(existing) ? [...existing, value] : [existing, value]
  }
  return headers
}

/**
 * A consumer's message, made by a constructor whose prototype is Object.prototype: a plain object
 * (its constructor is Object; JSON, spread, console.log and structuredClone see the same own
 * enumerable properties, in KafkaJS's order) that V8 allocates without an allocation site. An
 * object literal here has one, and V8 may decide, from one unlucky garbage collection, to
 * allocate every later message of the process straight in the old generation ("pretenuring"):
 * its keys and values, young, then survive every scavenge until a full collection and are
 * copied twice. Seen here as whole runs of the group consumer at a third of their usual speed.
 */
const PlainMessage = function (
  this: KafkaMessage, key: RecordBytes | null, value: RecordBytes | null, timestamp: string, attributes: number, offset: string, headers: KafkaMessage['headers'],
) {
  this.key = key
  this.value = value
  this.timestamp = timestamp
  this.attributes = attributes
  this.offset = offset
  this.headers = headers
  this.size = undefined
} as unknown as new (
  key: RecordBytes | null, value: RecordBytes | null, timestamp: string, attributes: number, offset: string, headers: KafkaMessage['headers'],
) => KafkaMessage
;(PlainMessage as unknown as { prototype: object }).prototype = Object.prototype

/**
 * The headers of a message without headers: an empty plain object, made as PlainMessage is (no
 * allocation site) and without the four property slots an `{}` literal reserves (24 bytes
 * instead of 56 here: most of a consumer's garbage is its messages). Headers added later go to
 * its property store, as for any object.
 */
const EmptyHeaders = function () {} as unknown as new () => KafkaMessage['headers']
;(EmptyHeaders as unknown as { prototype: object }).prototype = Object.prototype

/**
 * The decoder's RecordMaker for consumers: the message straight from the record's fields, no
 * DecodedRecord between. Decode with recordBytesView: keys and values are taken as RecordBytes.
 * Each message gets its own headers object (a user may add to it before forwarding).
 */
export const kafkaMessageOf: RecordMaker<KafkaMessage> = (offset, timestamp, key, value, headers, attributes) => new PlainMessage(
  key as RecordBytes | null, value as RecordBytes | null, timestampStrings.of(timestamp), attributes, offsetStrings.of(offset),
  headers.length === 0 ? new EmptyHeaders() : headersObject(headers),
)

export function parseOffset(offset: unknown, what = 'offset'): number {
  const n = typeof offset === 'string' && /^-?\d+$/.test(offset) ? Number(offset) : typeof offset === 'number' ? offset : NaN
  if (!Number.isSafeInteger(n)) throw new EdgelogError('OFFSET_OUT_OF_RANGE', `${what} must be an integer (a decimal string), got ${describe(offset)}`)
  return n
}

export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  return typeof value === 'object' ? (value as object).constructor?.name ?? 'an object' : `${typeof value} ${JSON.stringify(value)}`
}
