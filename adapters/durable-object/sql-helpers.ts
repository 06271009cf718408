/**
 * The SQLite adapter's small helpers (sqlite-storage.ts): error translation at the storage
 * boundary, argument checks, JSON encoding of metadata, and SQL bindings of offsets and keys.
 */
import { EdgelogError } from '../../core/errors.ts'

/** Bytes >= 0xF5 never occur in UTF-8: prefix bytes + 0xFF is above every key that starts with prefix. */
const PREFIX_END = 0xff

/** Runs `fn`, translating SQLite and runtime errors into EdgelogError at the boundary. */
export function guard<T>(fn: () => T): T {
  try {
    return fn()
  } catch (e) {
    throw translateStorageError(e)
  }
}

export async function guardAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw translateStorageError(e)
  }
}

export function translateStorageError(e: unknown): EdgelogError {
  if (e instanceof EdgelogError) return e
  const message = e instanceof Error ? e.message : String(e)
  if (/SQLITE_FULL|database or disk is full|exceeded.*(storage|database|size|quota)|storage.*(limit|quota)|quota/i.test(message)) {
    return new EdgelogError('STORAGE_QUOTA_EXCEEDED', `Durable Object storage is full: ${message}`, { cause: e })
  }
  if (/SQLITE_TOOBIG|too big/i.test(message)) {
    return new EdgelogError('MESSAGE_TOO_LARGE', `value too large for Durable Object storage: ${message}`, { cause: e })
  }
  return new EdgelogError('STORAGE_ERROR', `Durable Object storage failed: ${message}`, { cause: e })
}

export function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

export function encodeJson(key: string, value: unknown): string {
  let json: string | undefined
  try {
    json = JSON.stringify(value)
  } catch (e) {
    throw invalid(`metadata value for ${key} cannot be encoded as JSON: ${e instanceof Error ? e.message : String(e)}`, e)
  }
  // JSON.stringify returns undefined for functions and symbols.
  if (json === undefined) throw invalid(`metadata value for ${key} cannot be encoded as JSON`)
  return json
}

export function invalid(message: string, cause?: unknown): EdgelogError {
  return new EdgelogError('INVALID_REQUEST', message, cause === undefined ? undefined : { cause })
}

export function checkStream(stream: unknown): void {
  if (typeof stream !== 'string') throw invalid('stream id must be a string')
}

export function checkOffset(offset: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalid(`${what} must be a non-negative safe integer, got ${offset}`)
}

/** Range bounds may be ±Infinity ("everything"); SQLite binds a JS number as a double, so clamp to safe integers. */
export function clampOffset(offset: number): number {
  if (offset >= Number.MAX_SAFE_INTEGER) return Number.MAX_SAFE_INTEGER
  if (offset <= -Number.MAX_SAFE_INTEGER) return -Number.MAX_SAFE_INTEGER
  return Math.ceil(offset)
}

const encoder = new TextEncoder()

export function utf8Length(s: string): number {
  return encoder.encode(s).byteLength
}

/**
 * The exclusive upper bound of the keys starting with `prefix`, as bytes (bound as a BLOB and
 * cast to TEXT in SQL). `prefix + '\uffff'` would miss keys whose next character is above
 * U+FFFF, because SQLite compares the UTF-8 bytes.
 */
export function prefixEnd(prefix: string): ArrayBuffer {
  const bytes = encoder.encode(prefix)
  const end = new Uint8Array(bytes.byteLength + 1)
  end.set(bytes)
  end[bytes.byteLength] = PREFIX_END
  return end.buffer
}

export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  // A view of a whole ArrayBuffer is bound as is; otherwise copy just the viewed bytes.
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) {
    return bytes.buffer
  }
  return bytes.slice().buffer as ArrayBuffer
}
