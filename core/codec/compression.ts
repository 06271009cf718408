/**
 * Record-batch compression: Kafka's four codecs, byte-compatible with what Kafka's producers
 * write and read, in code that runs wherever the core runs (browsers, workerd, Node, Deno):
 *
 * | id | codec  | framing (what Kafka's clients exchange)        | here                              |
 * |----|--------|------------------------------------------------|-----------------------------------|
 * | 1  | gzip   | RFC 1952 gzip                                  | CompressionStream / DecompressionStream |
 * | 2  | snappy | xerial snappy-java framing (raw Snappy read too)| snappy.ts                         |
 * | 3  | lz4    | the LZ4 frame format                           | lz4.ts (xxhash32.ts)              |
 * | 4  | zstd   | Zstandard frames                               | zstd.ts (decoder: vendor/fzstd.ts) |
 *
 * Decompression never inflates past a limit (inflate-limit.ts): MESSAGE_TOO_LARGE, typed, before
 * the memory is spent. Codec ids 5-7 are no codec: readBatchHeader refuses them (CORRUPT_MESSAGE).
 */
import { EdgelogError } from '../errors.ts'
import type { Compression } from './record-batch.ts'
import { DEFAULT_MAX_INFLATED_BYTES, corruptCodec, inflatedTooLarge } from './inflate-limit.ts'
import { lz4Compress, lz4Decompress } from './lz4.ts'
import { snappyCompress, snappyDecompress } from './snappy.ts'
import { zstdCompress, zstdDecompress } from './zstd.ts'

export { DEFAULT_MAX_INFLATED_BYTES, MAX_INFLATE_RATIO, inflateLimit } from './inflate-limit.ts'

/** Kafka's codec ids (record batch attributes bits 0-2). */
export const COMPRESSION_IDS: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 }
export const COMPRESSION_BY_ID: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

export function isCompressionSupported(kind: Compression): boolean {
  return kind in COMPRESSION_IDS
}

function unknownCodec(kind: unknown): EdgelogError {
  return new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `unknown compression ${JSON.stringify(kind)} (none, gzip, snappy, lz4 or zstd)`)
}

async function pipe(stream: CompressionStream | DecompressionStream, bytes: Uint8Array, limit = Infinity, codec = 'gzip'): Promise<Uint8Array> {
  const writer = stream.writable.getWriter()
  // Errors surface on the readable side too; don't leave unhandled rejections on the writer.
  writer.write(bytes as Uint8Array<ArrayBuffer>).catch(() => {})
  writer.close().catch(() => {})
  const reader = stream.readable.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.length
    if (total > limit) {
      // Stop inflating now: the rest of a bomb is never produced.
      reader.cancel().catch(() => {})
      throw inflatedTooLarge(codec, limit)
    }
    chunks.push(value)
  }
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(total)
  let pos = 0
  for (const c of chunks) { out.set(c, pos); pos += c.length }
  return out
}

/** Compresses `bytes` (a batch's records) with Kafka's framing for `kind`. */
export async function compress(kind: Compression, bytes: Uint8Array): Promise<Uint8Array> {
  switch (kind) {
    case 'none': return bytes
    case 'gzip': return pipe(new CompressionStream('gzip'), bytes)
    default: return compressSync(kind, bytes)
  }
}

/** The synchronous codecs (all but gzip, which goes through a stream). */
export function compressSync(kind: Compression, bytes: Uint8Array): Uint8Array {
  switch (kind) {
    case 'none': return bytes
    case 'snappy': return snappyCompress(bytes)
    case 'lz4': return lz4Compress(bytes)
    case 'zstd': return zstdCompress(bytes)
    case 'gzip': throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', 'gzip goes through CompressionStream: use compress()')
    default: throw unknownCodec(kind)
  }
}

/**
 * Decompresses a batch's records. At most `maxBytes` of output (default: 32 × Kafka's default
 * max.message.bytes): past it MESSAGE_TOO_LARGE; bad data CORRUPT_MESSAGE.
 */
export async function decompress(kind: Compression, bytes: Uint8Array, maxBytes = DEFAULT_MAX_INFLATED_BYTES): Promise<Uint8Array> {
  if (kind === 'none') return bytes
  if (kind !== 'gzip') return decompressSync(kind, bytes, maxBytes)
  try {
    return await pipe(new DecompressionStream('gzip'), bytes, maxBytes)
  } catch (e) {
    if (e instanceof EdgelogError) throw e
    throw new EdgelogError('CORRUPT_MESSAGE', `corrupt gzip data: ${(e as Error)?.message ?? e}`, { cause: e })
  }
}

export function decompressSync(kind: Compression, bytes: Uint8Array, maxBytes = DEFAULT_MAX_INFLATED_BYTES): Uint8Array {
  try {
    switch (kind) {
      case 'none': return bytes
      case 'snappy': return snappyDecompress(bytes, maxBytes)
      case 'lz4': return lz4Decompress(bytes, maxBytes)
      case 'zstd': return zstdDecompress(bytes, maxBytes)
      case 'gzip': throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', 'gzip goes through DecompressionStream: use decompress()')
      default: throw unknownCodec(kind)
    }
  } catch (e) {
    if (e instanceof EdgelogError) throw e
    // A decoder's own bounds (a RangeError from a typed array, say) are corrupt data too.
    throw corruptCodec(kind, (e as Error)?.message ?? String(e))
  }
}
