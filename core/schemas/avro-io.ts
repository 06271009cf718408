/**
 * Avro's binary primitives: a growable writer and a reader over one payload (zig-zag varints
 * over JS numbers, exact to 2^53; little-endian floats; length-prefixed bytes and UTF-8 strings).
 */
import { SchemaRegistryError } from './errors.ts'

export const encoder = new TextEncoder()
export const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export function badValue(message: string): never {
  throw new SchemaRegistryError('INVALID_VALUE', message)
}

export class Writer {
  buf = new Uint8Array(256)
  pos = 0
  private view = new DataView(this.buf.buffer)
  reset(): void {
    this.buf = new Uint8Array(256)
    this.view = new DataView(this.buf.buffer)
    this.pos = 0
  }
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  byte(b: number): void { this.ensure(1); this.buf[this.pos++] = b }
  long(n: number): void {
    // zig-zag varint over a JS number (exact to 2^53)
    let z = n >= 0 ? n * 2 : -n * 2 - 1
    this.ensure(10)
    while (z >= 0x80) {
      this.buf[this.pos++] = (z % 0x80) | 0x80
      z = Math.floor(z / 0x80)
    }
    this.buf[this.pos++] = z
  }
  float(n: number): void { this.ensure(4); this.view.setFloat32(this.pos, n, true); this.pos += 4 }
  double(n: number): void { this.ensure(8); this.view.setFloat64(this.pos, n, true); this.pos += 8 }
  bytes(b: Uint8Array): void { this.long(b.length); this.raw(b) }
  raw(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length }
  string(s: string): void {
    // Short ASCII strings (most names, ids, paths) are copied char by char: no array made.
    const n = s.length
    if (n < 64) {
      this.ensure(n + 1)
      const start = this.pos
      this.buf[this.pos++] = n << 1
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c >= 0x80) break
        this.buf[this.pos++] = c
      }
      if (i === n) return
      this.pos = start
    }
    this.bytes(encoder.encode(s))
  }
}

const charCodes: number[] = []

export class Reader {
  pos = 0
  buf: Uint8Array = new Uint8Array(0)
  private viewOf: DataView | undefined
  /** One reader for every decoding (decoding is synchronous): pointed at the next payload. */
  reset(buf: Uint8Array, pos: number): this {
    this.buf = buf
    this.pos = pos
    this.viewOf = undefined
    return this
  }
  /** Made on the first float or double only: most records have none. */
  private get view(): DataView { return (this.viewOf ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength)) }
  need(n: number): void { if (this.pos + n > this.buf.length) badValue('Avro payload is truncated') }
  byte(): number { this.need(1); return this.buf[this.pos++] }
  long(): number {
    let result = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (i > 9) badValue('Avro varint is too long')
      const b = this.byte()
      result += (b & 0x7f) * scale
      scale *= 0x80
      if ((b & 0x80) === 0) break
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2
  }
  float(): number { this.need(4); const v = this.view.getFloat32(this.pos, true); this.pos += 4; return v }
  double(): number { this.need(8); const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v }
  fixed(n: number): Uint8Array { this.need(n); const v = this.buf.slice(this.pos, this.pos + n); this.pos += n; return v }
  bytes(): Uint8Array {
    const n = this.long()
    if (n < 0) badValue('Avro payload has a negative length')
    return this.fixed(n)
  }
  string(): string {
    const n = this.long()
    if (n < 0) badValue('Avro payload has a negative length')
    this.need(n)
    const start = this.pos
    this.pos += n
    if (n < 64) {
      // Short ASCII strings from their char codes in one call (no TextDecoder, no string per char).
      const codes = charCodes
      codes.length = n
      let ascii = true
      for (let i = 0; i < n; i++) {
        const b = this.buf[start + i]
        if (b >= 0x80) { ascii = false; break }
        codes[i] = b
      }
      if (ascii) return String.fromCharCode.apply(null, codes)
    }
    try { return decoder.decode(this.buf.subarray(start, start + n)) } catch { return badValue('Avro string is not UTF-8') }
  }
}
