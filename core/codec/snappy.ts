/**
 * Kafka's snappy: raw Snappy (https://github.com/google/snappy/blob/main/format_description.txt)
 * inside the xerial snappy-java stream framing, as Kafka's producer writes it (SnappyOutputStream):
 * the 16-byte header (magic 0x82 "SNAPPY" 0, version 1, compatible version 1), then blocks of
 * at most 32 KiB of input, each a big-endian int32 length and one raw Snappy buffer.
 *
 * The decoder takes the xerial framing or one bare raw Snappy buffer (KafkaJS's kafkajs-snappy
 * writes that; Kafka's own reader takes both). Every declared length is checked against the
 * inflate limit before anything is allocated.
 */
import { GrowableOutput, corruptCodec } from './inflate-limit.ts'

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]
const XERIAL_HEADER_BYTES = 16
const XERIAL_BLOCK = 32 * 1024
/** The reference compressor works on 64 KiB fragments: offsets stay below 65536. */
const FRAGMENT = 64 * 1024
const HASH_LOG = 14

function read32(b: Uint8Array, i: number): number { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0 }
function hash(seq: number): number { return Math.imul(seq, 0x1e35a7bd) >>> (32 - HASH_LOG) }
function maxCompressedLength(n: number): number { return 32 + n + ((n / 6) | 0) }

function emitLiteral(src: Uint8Array, from: number, to: number, dst: Uint8Array, d: number): number {
  const n = to - from - 1
  if (n < 60) dst[d++] = n << 2
  else if (n < 0x100) { dst[d++] = 60 << 2; dst[d++] = n }
  else if (n < 0x10000) { dst[d++] = 61 << 2; dst[d++] = n; dst[d++] = n >>> 8 }
  else if (n < 0x1000000) { dst[d++] = 62 << 2; dst[d++] = n; dst[d++] = n >>> 8; dst[d++] = n >>> 16 }
  else { dst[d++] = 63 << 2; dst[d++] = n; dst[d++] = n >>> 8; dst[d++] = n >>> 16; dst[d++] = n >>> 24 }
  if (to - from < 16) { for (let i = from; i < to; i++) dst[d++] = src[i]; return d }
  dst.set(src.subarray(from, to), d)
  return d + to - from
}

function emitCopy(dst: Uint8Array, d: number, offset: number, len: number): number {
  while (len >= 68) { dst[d++] = 2 | (63 << 2); dst[d++] = offset; dst[d++] = offset >>> 8; len -= 64 }
  if (len > 64) { dst[d++] = 2 | (59 << 2); dst[d++] = offset; dst[d++] = offset >>> 8; len -= 60 }
  if (len < 12 && offset < 2048) {
    dst[d++] = 1 | ((len - 4) << 2) | ((offset >>> 8) << 5)
    dst[d++] = offset
  } else {
    dst[d++] = 2 | ((len - 1) << 2); dst[d++] = offset; dst[d++] = offset >>> 8
  }
  return d
}

function compressFragment(src: Uint8Array, start: number, end: number, dst: Uint8Array, d: number, table: Int32Array): number {
  let anchor = start
  let ip = start
  const ipLimit = end - 15
  let misses = 0
  if (end - start >= 15) {
    while (ip < ipLimit) {
      const seq = read32(src, ip)
      const h = hash(seq)
      const ref = table[h]
      table[h] = ip
      if (ref < start || read32(src, ref) !== seq) {
        ip += 1 + (misses++ >> 5)
        continue
      }
      misses = 0
      let len = 4
      while (ip + len < end && src[ip + len] === src[ref + len]) len++
      if (ip > anchor) d = emitLiteral(src, anchor, ip, dst, d)
      d = emitCopy(dst, d, ip - ref, len)
      ip += len
      anchor = ip
      if (ip < ipLimit) table[hash(read32(src, ip - 1))] = ip - 1
    }
  }
  if (end > anchor) d = emitLiteral(src, anchor, end, dst, d)
  return d
}

/** One raw Snappy buffer (varint length, then elements), as the reference compressor makes it. */
export function snappyCompressRaw(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(maxCompressedLength(input.length))
  let d = 0
  let n = input.length
  while (n >= 0x80) { out[d++] = (n & 0x7f) | 0x80; n >>>= 7 }
  out[d++] = n
  const table = new Int32Array(1 << HASH_LOG)
  for (let start = 0; start < input.length; start += FRAGMENT) {
    table.fill(-1)
    d = compressFragment(input, start, Math.min(input.length, start + FRAGMENT), out, d, table)
  }
  return out.subarray(0, d)
}

/** Decodes one raw Snappy buffer src[at..end) onto `out`. */
function decompressRaw(src: Uint8Array, at: number, end: number, out: GrowableOutput): void {
  let length = 0
  for (let shift = 0; ; shift += 7) {
    if (at >= end || shift > 28) throw corruptCodec('snappy', 'bad length varint')
    const b = src[at++]
    length += (b & 0x7f) * 2 ** shift
    if (b < 0x80) break
  }
  const base = out.length
  const dst = out.reserve(length)
  const stop = base + length
  let op = base
  let ip = at
  while (ip < end) {
    const tag = src[ip++]
    const kind = tag & 3
    if (kind === 0) {
      let len = tag >>> 2
      if (len >= 60) {
        const extra = len - 59
        if (ip + extra > end) throw corruptCodec('snappy', 'literal length past the end')
        len = 0
        for (let i = 0; i < extra; i++) len += src[ip + i] * 2 ** (8 * i)
        ip += extra
      }
      len += 1
      if (ip + len > end || op + len > stop) throw corruptCodec('snappy', 'literal past the end')
      if (len < 16) { for (let i = 0; i < len; i++) dst[op + i] = src[ip + i] } else dst.set(src.subarray(ip, ip + len), op)
      ip += len
      op += len
      continue
    }
    let len: number
    let offset: number
    if (kind === 1) {
      if (ip >= end) throw corruptCodec('snappy', 'copy past the end')
      len = ((tag >>> 2) & 7) + 4
      offset = ((tag >>> 5) << 8) | src[ip++]
    } else if (kind === 2) {
      if (ip + 2 > end) throw corruptCodec('snappy', 'copy past the end')
      len = (tag >>> 2) + 1
      offset = src[ip] | (src[ip + 1] << 8)
      ip += 2
    } else {
      if (ip + 4 > end) throw corruptCodec('snappy', 'copy past the end')
      len = (tag >>> 2) + 1
      offset = read32(src, ip)
      ip += 4
    }
    if (offset === 0 || offset > op - base) throw corruptCodec('snappy', `copy offset ${offset} before the start of the data`)
    if (op + len > stop) throw corruptCodec('snappy', 'copy past the declared length')
    const from = op - offset
    if (offset >= len) dst.copyWithin(op, from, from + len)
    else for (let i = 0; i < len; i++) dst[op + i] = dst[from + i]
    op += len
  }
  if (op !== stop) throw corruptCodec('snappy', `${op - base} bytes decoded, ${length} declared`)
  out.length = stop
}

function isXerial(input: Uint8Array): boolean {
  if (input.length < XERIAL_MAGIC.length) return false
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (input[i] !== XERIAL_MAGIC[i]) return false
  return true
}

/** Encodes as Kafka's producer does: xerial framing around raw Snappy blocks of 32 KiB. */
export function snappyCompress(input: Uint8Array): Uint8Array {
  const blocks: Uint8Array[] = []
  let size = XERIAL_HEADER_BYTES
  for (let start = 0; start < input.length; start += XERIAL_BLOCK) {
    const block = snappyCompressRaw(input.subarray(start, Math.min(input.length, start + XERIAL_BLOCK)))
    blocks.push(block)
    size += 4 + block.length
  }
  const out = new Uint8Array(size)
  out.set(XERIAL_MAGIC, 0)
  const view = new DataView(out.buffer)
  view.setInt32(8, 1)
  view.setInt32(12, 1)
  let at = XERIAL_HEADER_BYTES
  for (const block of blocks) {
    view.setInt32(at, block.length)
    out.set(block, at + 4)
    at += 4 + block.length
  }
  return out
}

/** Decodes xerial-framed or bare raw Snappy; at most `limit` bytes of output. */
export function snappyDecompress(input: Uint8Array, limit: number): Uint8Array {
  if (!isXerial(input)) {
    const out = new GrowableOutput('snappy', limit, 0)
    // The declared length is checked against the limit before the exact allocation.
    out.bytes = new Uint8Array(0)
    decompressRaw(input, 0, input.length, out)
    return out.result()
  }
  if (input.length < XERIAL_HEADER_BYTES) throw corruptCodec('snappy', 'truncated xerial header')
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength)
  const out = new GrowableOutput('snappy', limit, input.length * 3)
  let at = XERIAL_HEADER_BYTES
  while (at < input.length) {
    if (input.length - at < 4) throw corruptCodec('snappy', 'truncated xerial block length')
    const size = view.getInt32(at)
    at += 4
    if (size < 0 || at + size > input.length) throw corruptCodec('snappy', `xerial block of ${size} bytes past the end`)
    decompressRaw(input, at, at + size, out)
    at += size
  }
  return out.result()
}

