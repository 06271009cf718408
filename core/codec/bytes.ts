/**
 * Byte-level primitives for Kafka's wire formats: big-endian fixed-width integers, int64 as a
 * JS number (exact to 2^53, written and read as two 32-bit halves, no BigInt), unsigned
 * varints and zigzag varints/varlongs (protobuf style, as Kafka's ByteUtils).
 *
 * Reads past the end and malformed varints throw EdgelogError('CORRUPT_MESSAGE').
 */
import { EdgelogError } from '../errors.ts'

const TWO_32 = 4294967296

function corrupt(message: string): EdgelogError {
  return new EdgelogError('CORRUPT_MESSAGE', message)
}

// ---------------------------------------------------------------------------------------------
// Sizes

/** Bytes an unsigned varint of `v` (0 <= v < 2^32) takes. */
export function sizeOfUnsignedVarint(v: number): number {
  v = v >>> 0
  if (v < 0x80) return 1
  if (v < 0x4000) return 2
  if (v < 0x200000) return 3
  if (v < 0x10000000) return 4
  return 5
}

/** Bytes a zigzag varint (signed int32) of `v` takes. */
export function sizeOfVarint(v: number): number {
  return sizeOfUnsignedVarint((v << 1) ^ (v >> 31))
}

/** Bytes a zigzag varlong of `v` (a safe integer) takes. */
export function sizeOfVarlong(v: number): number {
  // magnitude of the zigzag value shifted right by one; the sign bit sits in bit 0
  let m = v >= 0 ? v : -v - 1
  if (m < 0x40) return 1
  let n = 1
  m = Math.floor(m / 64)
  while (m > 0) { n++; m = Math.floor(m / 128) }
  return n
}

/** Exact UTF-8 byte length of a JS string (lone surrogates count as U+FFFD, like TextEncoder). */
export function utf8Length(s: string): number {
  const n = s.length
  let len = n
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) { len += 1; continue }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) { len += 2; i++; continue } // 4 bytes for 2 code units
    }
    len += 2
  }
  return len
}

/** Writes `s` as UTF-8 into `out` at `pos` (room must exist); returns the new position. */
export function writeUtf8(out: Uint8Array, pos: number, s: string): number {
  const n = s.length
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i)
    if (c < 0x80) { out[pos++] = c; continue }
    if (c < 0x800) {
      out[pos++] = 0xc0 | (c >> 6)
      out[pos++] = 0x80 | (c & 0x3f)
      continue
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const d = s.charCodeAt(i + 1)
        if (d >= 0xdc00 && d <= 0xdfff) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
          out[pos++] = 0xf0 | (cp >> 18)
          out[pos++] = 0x80 | ((cp >> 12) & 0x3f)
          out[pos++] = 0x80 | ((cp >> 6) & 0x3f)
          out[pos++] = 0x80 | (cp & 0x3f)
          i++
          continue
        }
      }
      c = 0xfffd
    }
    out[pos++] = 0xe0 | (c >> 12)
    out[pos++] = 0x80 | ((c >> 6) & 0x3f)
    out[pos++] = 0x80 | (c & 0x3f)
  }
  return pos
}

const textDecoder = new TextDecoder()

/** Decodes UTF-8 (invalid sequences become U+FFFD, like Java's new String(bytes, UTF_8)). */
export function readUtf8(buf: Uint8Array, start: number, end: number): string {
  const len = end - start
  if (len <= 32) {
    let s = ''
    for (let i = start; i < end; i++) {
      const c = buf[i]
      if (c >= 0x80) return textDecoder.decode(buf.subarray(start, end))
      s += String.fromCharCode(c)
    }
    return s
  }
  return textDecoder.decode(buf.subarray(start, end))
}

// ---------------------------------------------------------------------------------------------
// Stand-alone writers into a pre-sized buffer (the hot paths of the record codec use these)

/** Writes an unsigned varint (0 <= v < 2^32); returns the new position. */
export function putUnsignedVarint(out: Uint8Array, pos: number, v: number): number {
  v = v >>> 0
  while (v >= 0x80) {
    out[pos++] = (v & 0x7f) | 0x80
    v >>>= 7
  }
  out[pos++] = v
  return pos
}

/** Writes a zigzag varint (signed int32); returns the new position. */
export function putVarint(out: Uint8Array, pos: number, v: number): number {
  let z = ((v << 1) ^ (v >> 31)) >>> 0
  while (z >= 0x80) {
    out[pos++] = (z & 0x7f) | 0x80
    z >>>= 7
  }
  out[pos++] = z
  return pos
}

/** Writes a zigzag varlong (a safe integer, |v| < 2^53); returns the new position. */
export function putVarlong(out: Uint8Array, pos: number, v: number): number {
  if (v >= -0x40000000 && v < 0x40000000) return putVarint(out, pos, v)
  const sign = v < 0 ? 1 : 0
  let m = sign ? -v - 1 : v
  // first byte: six magnitude bits above the sign bit
  out[pos++] = ((m % 64) << 1) | sign | 0x80
  m = Math.floor(m / 64)
  while (m >= 0x80) {
    out[pos++] = (m % 128) | 0x80
    m = Math.floor(m / 128)
  }
  out[pos++] = m
  return pos
}

/** Writes a big-endian int64 given as a JS safe integer; returns the new position. */
export function putInt64(view: DataView, pos: number, v: number): number {
  const hi = Math.floor(v / TWO_32)
  view.setInt32(pos, hi)
  view.setUint32(pos + 4, v - hi * TWO_32)
  return pos + 8
}

/** Reads a big-endian int64 as a JS number (exact when |v| <= 2^53). */
export function getInt64(view: DataView, pos: number): number {
  return view.getInt32(pos) * TWO_32 + view.getUint32(pos + 4)
}

// ---------------------------------------------------------------------------------------------

/** A growable, reusable big-endian writer. `reset()` keeps the buffer; `finish()` returns a view. */
export class ByteWriter {
  buf: Uint8Array
  view: DataView
  pos = 0

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity))
    this.view = new DataView(this.buf.buffer)
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): this {
    const need = this.pos + n
    if (need > this.buf.length) {
      let cap = this.buf.length * 2
      while (cap < need) cap *= 2
      const next = new Uint8Array(cap)
      next.set(this.buf.subarray(0, this.pos))
      this.buf = next
      this.view = new DataView(next.buffer)
    }
    return this
  }

  reset(): this { this.pos = 0; return this }
  get length(): number { return this.pos }

  int8(v: number): this { this.ensure(1); this.view.setInt8(this.pos, v); this.pos += 1; return this }
  uint8(v: number): this { this.ensure(1); this.buf[this.pos++] = v; return this }
  int16(v: number): this { this.ensure(2); this.view.setInt16(this.pos, v); this.pos += 2; return this }
  int32(v: number): this { this.ensure(4); this.view.setInt32(this.pos, v); this.pos += 4; return this }
  uint32(v: number): this { this.ensure(4); this.view.setUint32(this.pos, v >>> 0); this.pos += 4; return this }
  int64(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`int64 out of safe integer range: ${v}`)
    this.ensure(8); this.pos = putInt64(this.view, this.pos, v); return this
  }
  unsignedVarint(v: number): this { this.ensure(5); this.pos = putUnsignedVarint(this.buf, this.pos, v); return this }
  varint(v: number): this { this.ensure(5); this.pos = putVarint(this.buf, this.pos, v); return this }
  varlong(v: number): this {
    if (!Number.isSafeInteger(v)) throw new RangeError(`varlong out of safe integer range: ${v}`)
    this.ensure(10); this.pos = putVarlong(this.buf, this.pos, v); return this
  }
  bytes(b: Uint8Array): this { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length; return this }
  /** Kafka's varint-length-prefixed bytes (length -1 for null). */
  varintBytes(b: Uint8Array | null): this {
    if (b === null) return this.varint(-1)
    return this.varint(b.length).bytes(b)
  }
  /** Kafka's varint-length-prefixed UTF-8 string. */
  varintString(s: string): this {
    const n = utf8Length(s)
    this.varint(n).ensure(n)
    this.pos = writeUtf8(this.buf, this.pos, s)
    return this
  }

  /** A view of the bytes written so far (shares the buffer: copy it before reusing the writer). */
  finish(): Uint8Array { return this.buf.subarray(0, this.pos) }
  /** A copy of the bytes written so far. */
  toBytes(): Uint8Array { return this.buf.slice(0, this.pos) }
}

/** A bounds-checked big-endian reader over `buf[start, end)`. */
export class ByteReader {
  readonly buf: Uint8Array
  readonly view: DataView
  pos: number
  end: number

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    this.pos = start
    this.end = end
  }

  get remaining(): number { return this.end - this.pos }

  need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw corrupt(`read of ${n} bytes at ${this.pos} past the end (${this.end})`)
  }

  int8(): number { this.need(1); return this.view.getInt8(this.pos++) }
  uint8(): number { this.need(1); return this.buf[this.pos++] }
  int16(): number { this.need(2); const v = this.view.getInt16(this.pos); this.pos += 2; return v }
  int32(): number { this.need(4); const v = this.view.getInt32(this.pos); this.pos += 4; return v }
  uint32(): number { this.need(4); const v = this.view.getUint32(this.pos); this.pos += 4; return v }
  int64(): number { this.need(8); const v = getInt64(this.view, this.pos); this.pos += 8; return v }

  /** Unsigned varint, at most 5 bytes (bits past 32 are dropped, as Java does). */
  unsignedVarint(): number {
    const buf = this.buf
    let pos = this.pos
    const end = this.end
    if (pos >= end) throw corrupt('varint past the end')
    let b = buf[pos++]
    if (b < 0x80) { this.pos = pos; return b }
    let v = b & 0x7f
    for (let shift = 7; ; shift += 7) {
      if (pos >= end) throw corrupt('varint past the end')
      b = buf[pos++]
      if (shift === 28) {
        if (b & 0x80) throw corrupt('varint longer than 5 bytes')
        v = (v | (b << 28)) >>> 0
        break
      }
      v |= (b & 0x7f) << shift
      if (b < 0x80) break
    }
    this.pos = pos
    return v >>> 0
  }

  /** Zigzag varint (signed int32), at most 5 bytes. */
  varint(): number {
    const buf = this.buf
    const pos = this.pos
    if (pos < this.end) {
      const b = buf[pos]
      if (b < 0x80) { this.pos = pos + 1; return (b >>> 1) ^ -(b & 1) }
    }
    const z = this.unsignedVarint()
    return (z >>> 1) ^ -(z & 1)
  }

  /** Zigzag varlong, at most 10 bytes; values outside ±2^53 throw CORRUPT_MESSAGE. */
  varlong(): number {
    const buf = this.buf
    let pos = this.pos
    const end = this.end
    if (pos >= end) throw corrupt('varlong past the end')
    let b = buf[pos++]
    const sign = b & 1
    let m = (b & 0x7f) >>> 1
    if (b >= 0x80) {
      let mul = 64
      let i = 1
      for (;;) {
        if (pos >= end) throw corrupt('varlong past the end')
        b = buf[pos++]
        m += (b & 0x7f) * mul
        if (b < 0x80) break
        if (++i === 10) throw corrupt('varlong longer than 10 bytes')
        mul *= 128
      }
      if (m > Number.MAX_SAFE_INTEGER) throw corrupt('varlong outside the safe integer range')
    }
    this.pos = pos
    return sign ? -m - 1 : m
  }

  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    this.need(n)
    const v = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  /** Kafka's varint-length-prefixed bytes; null for length -1. */
  varintBytes(): Uint8Array | null {
    const n = this.varint()
    if (n === -1) return null
    if (n < 0) throw corrupt(`negative length ${n}`)
    return this.bytes(n)
  }

  /** Kafka's varint-length-prefixed UTF-8 string. */
  varintString(): string {
    const n = this.varint()
    if (n < 0) throw corrupt(`negative string length ${n}`)
    this.need(n)
    const s = readUtf8(this.buf, this.pos, this.pos + n)
    this.pos += n
    return s
  }

  skip(n: number): void { this.need(n); this.pos += n }
}

/**
 * The chunks one after another in one array. `total` is their summed length when the caller
 * already knows it. A single chunk is returned as is (no copy): callers must not mutate the
 * result when they keep using the chunk.
 */
export function concatBytes(chunks: Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]
  if (total === undefined) {
    total = 0
    for (const c of chunks) total += c.byteLength
  }
  const out = new Uint8Array(total)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}
