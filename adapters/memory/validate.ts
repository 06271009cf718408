/**
 * Checks a `StorageWrite` before anything of it is applied, so that an adapter can be
 * all-or-nothing by validating first. Runtime-agnostic: the IndexedDB adapter uses it too
 * (and the port could host it; see the report in docs).
 */
import { EdgelogError } from '../../core/errors.ts'
import type { StorageWrite, StoredBatch } from '../../core/storage.ts'

function invalid(message: string): EdgelogError {
  return new EdgelogError('INVALID_REQUEST', `storage write refused: ${message}`)
}

function isOffset(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/** A stored batch needs non-negative safe-integer offsets, baseOffset <= lastOffset, and bytes. */
export function checkBatch(stream: unknown, batch: StoredBatch | undefined): void {
  if (typeof stream !== 'string') throw invalid('a batch without a stream name')
  if (batch === null || typeof batch !== 'object') throw invalid(`a missing batch for stream ${stream}`)
  const { baseOffset, lastOffset, maxTimestamp, bytes } = batch
  if (!isOffset(baseOffset) || !isOffset(lastOffset) || baseOffset > lastOffset) {
    throw invalid(`batch offsets ${baseOffset}..${lastOffset} of stream ${stream} are not 0 <= base <= last < 2^53`)
  }
  if (typeof maxTimestamp !== 'number' || !Number.isFinite(maxTimestamp)) throw invalid(`batch ${baseOffset} of stream ${stream} has no maxTimestamp`)
  if (!(bytes instanceof Uint8Array)) throw invalid(`batch ${baseOffset} of stream ${stream} has no Uint8Array bytes`)
}

/** Throws an `INVALID_REQUEST` EdgelogError for anything an adapter could not apply whole. */
export function checkWrite(write: StorageWrite): void {
  for (const r of write.deleteRanges ?? []) {
    if (typeof r.stream !== 'string' || typeof r.fromOffset !== 'number' || typeof r.toOffset !== 'number' || Number.isNaN(r.fromOffset) || Number.isNaN(r.toOffset)) {
      throw invalid('a delete range needs a stream and numeric offsets')
    }
  }
  for (const b of write.batches ?? []) checkBatch(b.stream, b.batch)
  for (const m of write.meta ?? []) if (typeof m.key !== 'string') throw invalid('a meta key must be a string')
  for (const p of write.deleteMetaPrefixes ?? []) if (typeof p !== 'string') throw invalid('a meta prefix must be a string')
  for (const e of write.expect ?? []) if (typeof e?.key !== 'string') throw invalid('an expected meta key must be a string')
}

/** Serialises a meta value as JSON, refusing what JSON cannot hold (BigInt, cycles, functions). */
export function metaToJSON(key: string, value: unknown): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (cause) {
    throw new EdgelogError('INVALID_REQUEST', `storage write refused: meta value of ${key} is not JSON (${String(cause)})`, { cause })
  }
  if (json === undefined) throw invalid(`meta value of ${key} is not JSON`)
  return json
}
