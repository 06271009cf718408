/**
 * Kafka's lz4: the LZ4 frame format (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md)
 * over LZ4 blocks, as Kafka's KafkaLZ4BlockOutputStream writes it for record batches v2: frame
 * descriptor FLG 0x60 (version 01, independent blocks, no block or content checksum, no content
 * size), BD 0x40 (64 KiB blocks), a correct header checksum, blocks that did not shrink stored
 * uncompressed, end mark 0.
 *
 * The decoder takes any LZ4 frame a Kafka client may send: linked or independent blocks, block
 * and content checksums (checked), content size, several frames in a row, skippable frames. It
 * writes into one output buffer that grows up to the inflate limit and no further.
 */
import { GrowableOutput, corruptCodec } from './inflate-limit.ts'
import { xxhash32 } from './xxhash32.ts'

const MAGIC = 0x184d2204
const BLOCK_SIZE = 64 * 1024
const MIN_MATCH = 4
/** A match starts at least 12 bytes before the end of its block; the last 5 bytes are literals. */
const MF_LIMIT = 12
const LAST_LITERALS = 5
const HASH_LOG = 14
const MAX_OFFSET = 65535
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 }

function read32(b: Uint8Array, i: number): number { return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0 }
function write32(b: Uint8Array, i: number, v: number): void {
  b[i] = v; b[i + 1] = v >>> 8; b[i + 2] = v >>> 16; b[i + 3] = v >>> 24
}
function hash(seq: number): number { return Math.imul(seq, 2654435761) >>> (32 - HASH_LOG) }

/** Largest compressed size of an n-byte block. */
function blockBound(n: number): number { return n + ((n / 255) | 0) + 16 }

function writeLength(dst: Uint8Array, d: number, rest: number): number {
  while (rest >= 255) { dst[d++] = 255; rest -= 255 }
  dst[d++] = rest
  return d
}

/** Compresses src[start..end) as one LZ4 block into dst at d; returns the end in dst. */
function compressBlock(src: Uint8Array, start: number, end: number, dst: Uint8Array, d: number, table: Int32Array): number {
  let anchor = start
  let ip = start
  const ipLimit = end - MF_LIMIT
  const matchLimit = end - LAST_LITERALS
  let misses = 0
  if (end - start > MF_LIMIT) {
    while (ip < ipLimit) {
      const seq = read32(src, ip)
      const h = hash(seq)
      let ref = table[h]
      table[h] = ip
      if (ref < start || ip - ref > MAX_OFFSET || read32(src, ref) !== seq) {
        ip += 1 + (misses++ >> 6)
        continue
      }
      misses = 0
      while (ip > anchor && ref > start && src[ip - 1] === src[ref - 1]) { ip--; ref-- }
      let len = MIN_MATCH
      while (ip + len < matchLimit && src[ip + len] === src[ref + len]) len++
      const literals = ip - anchor
      const token = d++
      if (literals >= 15) { dst[token] = 0xf0; d = writeLength(dst, d, literals - 15) } else dst[token] = literals << 4
      if (literals < 16) { for (let i = 0; i < literals; i++) dst[d + i] = src[anchor + i] } else dst.set(src.subarray(anchor, ip), d)
      d += literals
      const offset = ip - ref
      dst[d++] = offset
      dst[d++] = offset >>> 8
      const ml = len - MIN_MATCH
      if (ml >= 15) { dst[token] |= 15; d = writeLength(dst, d, ml - 15) } else dst[token] |= ml
      ip += len
      anchor = ip
      if (ip < ipLimit) table[hash(read32(src, ip - 2))] = ip - 2
    }
  }
  const literals = end - anchor
  if (literals >= 15) { dst[d++] = 0xf0; d = writeLength(dst, d, literals - 15) } else dst[d++] = literals << 4
  dst.set(src.subarray(anchor, end), d)
  return d + literals
}

/** Encodes `input` as one LZ4 frame, as Kafka's producer does. */
export function lz4Compress(input: Uint8Array): Uint8Array {
  const blocks = Math.ceil(input.length / BLOCK_SIZE)
  const out = new Uint8Array(7 + blocks * (4 + blockBound(BLOCK_SIZE)) + 4)
  write32(out, 0, MAGIC)
  out[4] = 0x60
  out[5] = 0x40
  out[6] = (xxhash32(out, 4, 6) >>> 8) & 0xff
  let d = 7
  const table = new Int32Array(1 << HASH_LOG).fill(-1)
  for (let start = 0; start < input.length; start += BLOCK_SIZE) {
    const end = Math.min(input.length, start + BLOCK_SIZE)
    const blockEnd = compressBlock(input, start, end, out, d + 4, table)
    const size = blockEnd - d - 4
    if (size >= end - start) {
      write32(out, d, (end - start) | 0x80000000)
      out.set(input.subarray(start, end), d + 4)
      d += 4 + end - start
    } else {
      write32(out, d, size)
      d = blockEnd
    }
  }
  write32(out, d, 0)
  return out.subarray(0, d + 4)
}

/** Decodes one LZ4 block src[ip..end) onto out; matches may reach back into earlier blocks of the frame (`floor`). */
function decompressBlock(src: Uint8Array, ip: number, end: number, out: GrowableOutput, floor: number): void {
  for (;;) {
    if (ip >= end) throw corruptCodec('lz4', 'block ends inside a sequence')
    const token = src[ip++]
    let literals = token >>> 4
    if (literals === 15) {
      let b: number
      do {
        if (ip >= end) throw corruptCodec('lz4', 'literal length past the block')
        b = src[ip++]
        literals += b
      } while (b === 255)
    }
    if (ip + literals > end) throw corruptCodec('lz4', 'literals past the block')
    let dst = out.reserve(literals)
    if (literals < 16) { for (let i = 0; i < literals; i++) dst[out.length + i] = src[ip + i] } else dst.set(src.subarray(ip, ip + literals), out.length)
    out.length += literals
    ip += literals
    if (ip === end) return
    if (ip + 2 > end) throw corruptCodec('lz4', 'offset past the block')
    const offset = src[ip] | (src[ip + 1] << 8)
    ip += 2
    if (offset === 0 || offset > out.length - floor) throw corruptCodec('lz4', `match offset ${offset} before the start of the data`)
    let len = token & 15
    if (len === 15) {
      let b: number
      do {
        if (ip >= end) throw corruptCodec('lz4', 'match length past the block')
        b = src[ip++]
        len += b
      } while (b === 255)
    }
    len += MIN_MATCH
    dst = out.reserve(len)
    let op = out.length
    const from = op - offset
    if (offset >= len) {
      dst.copyWithin(op, from, from + len)
    } else {
      for (let i = 0; i < len; i++) dst[op + i] = dst[from + i]
    }
    op += len
    out.length = op
  }
}

/** Decodes one or more LZ4 frames; at most `limit` bytes of output. */
export function lz4Decompress(input: Uint8Array, limit: number): Uint8Array {
  const out = new GrowableOutput('lz4', limit, input.length * 4)
  let at = 0
  while (at < input.length) {
    if (input.length - at < 4) throw corruptCodec('lz4', 'truncated frame')
    const magic = read32(input, at)
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      // A skippable frame: magic, size, that many bytes.
      if (input.length - at < 8) throw corruptCodec('lz4', 'truncated skippable frame')
      at += 8 + read32(input, at + 4)
      if (at > input.length) throw corruptCodec('lz4', 'truncated skippable frame')
      continue
    }
    if (magic !== MAGIC) throw corruptCodec('lz4', `bad frame magic 0x${magic.toString(16)}`)
    at = decodeFrame(input, at + 4, out)
  }
  return out.result()
}

function decodeFrame(input: Uint8Array, at: number, out: GrowableOutput): number {
  if (input.length - at < 3) throw corruptCodec('lz4', 'truncated frame descriptor')
  const descriptor = at
  const flg = input[at]
  const bd = input[at + 1]
  if (flg >>> 6 !== 1) throw corruptCodec('lz4', `frame version ${flg >>> 6} (only 01)`)
  if (flg & 0x02 || bd & 0x8f) throw corruptCodec('lz4', 'reserved frame descriptor bits set')
  if (flg & 0x01) throw corruptCodec('lz4', 'frames with a dictionary id are not supported')
  const blockChecksum = (flg & 0x10) !== 0
  const contentSizeSet = (flg & 0x08) !== 0
  const contentChecksum = (flg & 0x04) !== 0
  const maxBlock = BLOCK_MAX_SIZES[(bd >>> 4) & 7]
  if (maxBlock === undefined) throw corruptCodec('lz4', `block maximum size id ${(bd >>> 4) & 7}`)
  at += 2
  if (contentSizeSet) {
    if (input.length - at < 8) throw corruptCodec('lz4', 'truncated content size')
    const size = read32(input, at) + read32(input, at + 4) * 2 ** 32
    out.reserve(size)
    at += 8
  }
  if (at >= input.length) throw corruptCodec('lz4', 'truncated frame descriptor')
  const hc = (xxhash32(input, descriptor, at) >>> 8) & 0xff
  if (input[at] !== hc) throw corruptCodec('lz4', 'frame header checksum mismatch')
  at++
  const frameStart = out.length
  for (;;) {
    if (input.length - at < 4) throw corruptCodec('lz4', 'truncated block size')
    const word = read32(input, at)
    at += 4
    if (word === 0) break
    const size = word & 0x7fffffff
    if (size > maxBlock) throw corruptCodec('lz4', `block of ${size} bytes over the frame's ${maxBlock}`)
    const end = at + size
    if (end + (blockChecksum ? 4 : 0) > input.length) throw corruptCodec('lz4', 'truncated block')
    if (blockChecksum && xxhash32(input, at, end) !== read32(input, end)) throw corruptCodec('lz4', 'block checksum mismatch')
    if (word & 0x80000000) {
      out.reserve(size).set(input.subarray(at, end), out.length)
      out.length += size
    } else {
      decompressBlock(input, at, end, out, frameStart)
    }
    at = end + (blockChecksum ? 4 : 0)
  }
  if (contentChecksum) {
    if (input.length - at < 4) throw corruptCodec('lz4', 'truncated content checksum')
    if (xxhash32(out.bytes, frameStart, out.length) !== read32(input, at)) throw corruptCodec('lz4', 'content checksum mismatch')
    at += 4
  }
  return at
}
