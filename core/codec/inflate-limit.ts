/**
 * What decompression may allocate. A record batch is at most `max.message.bytes` on the wire
 * (1 MiB by default), but compressed data can claim, or really inflate to, thousands of times
 * its size (a "zip bomb": 1 MiB of gzip inflates to 1 GiB of zeros). Every decoder here stops
 * at a limit, before allocating past it, with a typed MESSAGE_TOO_LARGE instead of running the
 * process (or the Worker isolate, 128 MiB) out of memory.
 */
import { EdgelogError } from '../errors.ts'

/** How many times `max.message.bytes` a batch may inflate to. */
export const MAX_INFLATE_RATIO = 32
/** The floor of the limit, for topics with a small max.message.bytes. */
export const MIN_INFLATE_LIMIT = 16 * 1024 * 1024
/** The limit when the caller knows no topic: 32 × Kafka's default max.message.bytes (1 MiB + 12). */
export const DEFAULT_MAX_INFLATED_BYTES = MAX_INFLATE_RATIO * (1024 * 1024 + 12)

/** The decompression limit for a topic whose max.message.bytes is `maxMessageBytes`. */
export function inflateLimit(maxMessageBytes: number): number {
  return Math.max(MIN_INFLATE_LIMIT, MAX_INFLATE_RATIO * maxMessageBytes)
}

export function inflatedTooLarge(codec: string, limit: number): EdgelogError {
  return new EdgelogError('MESSAGE_TOO_LARGE', `${codec} data inflates past ${limit} bytes (the decompression limit: ${MAX_INFLATE_RATIO} × max.message.bytes); refused`)
}

export function corruptCodec(codec: string, detail: string): EdgelogError {
  return new EdgelogError('CORRUPT_MESSAGE', `corrupt ${codec} data: ${detail}`)
}

/** An output buffer that grows by doubling up to `limit`, then refuses. */
export class GrowableOutput {
  bytes: Uint8Array
  length = 0

  constructor(readonly codec: string, readonly limit: number, initial: number) {
    this.bytes = new Uint8Array(Math.max(64, Math.min(limit, initial)))
  }

  /** Makes room for `more` bytes after `length`. */
  reserve(more: number): Uint8Array {
    const need = this.length + more
    if (need <= this.bytes.length) return this.bytes
    if (need > this.limit) throw inflatedTooLarge(this.codec, this.limit)
    const next = new Uint8Array(Math.min(this.limit, Math.max(need, this.bytes.length * 2)))
    next.set(this.bytes.subarray(0, this.length))
    this.bytes = next
    return next
  }

  result(): Uint8Array {
    if (this.length === this.bytes.length) return this.bytes
    // Record keys and values are views into this: don't keep a mostly empty buffer alive.
    return this.length * 4 < this.bytes.length * 3 ? this.bytes.slice(0, this.length) : this.bytes.subarray(0, this.length)
  }
}
