/**
 * Record-batch compression. gzip goes through the Web-standard CompressionStream /
 * DecompressionStream (browsers, workerd, Node >= 18). Kafka's snappy, lz4 and zstd are not
 * available there: they throw UNSUPPORTED_FOR_MESSAGE_FORMAT.
 */
import { EdgelogError } from '../errors.ts'
import type { Compression } from './record-batch.ts'

/** Kafka's codec ids (record batch attributes bits 0-2). */
export const COMPRESSION_IDS: Record<Compression, number> = { none: 0, gzip: 1, snappy: 2, lz4: 3, zstd: 4 }
export const COMPRESSION_BY_ID: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

export function isCompressionSupported(kind: Compression): boolean {
  return kind === 'none' || kind === 'gzip'
}

function unsupported(kind: string): EdgelogError {
  return new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `compression '${kind}' is not supported (edgelog supports none and gzip)`)
}

async function pipe(stream: CompressionStream | DecompressionStream, bytes: Uint8Array): Promise<Uint8Array> {
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
    chunks.push(value)
    total += value.length
  }
  if (chunks.length === 1) return chunks[0]
  const out = new Uint8Array(total)
  let pos = 0
  for (const c of chunks) { out.set(c, pos); pos += c.length }
  return out
}

export async function compress(kind: Compression, bytes: Uint8Array): Promise<Uint8Array> {
  if (kind === 'none') return bytes
  if (kind !== 'gzip') throw unsupported(kind)
  return pipe(new CompressionStream('gzip'), bytes)
}

export async function decompress(kind: Compression, bytes: Uint8Array): Promise<Uint8Array> {
  if (kind === 'none') return bytes
  if (kind !== 'gzip') throw unsupported(kind)
  try {
    return await pipe(new DecompressionStream('gzip'), bytes)
  } catch (e) {
    throw new EdgelogError('CORRUPT_MESSAGE', `corrupt gzip data: ${(e as Error)?.message ?? e}`, { cause: e })
  }
}
