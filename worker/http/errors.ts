/** HTTP error bodies (`{ "error": { "code", "message" } }`, status from ERROR_CODES) and request-body helpers. */
import type { Context } from 'hono'
import { concatBytes } from '../../core/codec/bytes.ts'
import { ERROR_CODES, EdgelogError, isEdgelogError, type ErrorCode } from '../../core/errors.ts'

export function fail(code: ErrorCode, message: string): never {
  throw new EdgelogError(code, message)
}

export function statusOf(code: ErrorCode): number {
  return ERROR_CODES[code]?.status ?? 500
}

export function errorResponse(error: unknown, headers?: HeadersInit): Response {
  const e = isEdgelogError(error)
    ? error
    : new EdgelogError('UNKNOWN_SERVER_ERROR', error instanceof Error ? error.message : String(error))
  return Response.json({ error: { code: e.code, message: e.message } }, { status: statusOf(e.code), headers })
}

/** Default largest request body. */
export const DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
/** Largest body of a request that carries no records (admin, groups). */
export const MAX_CONTROL_BODY_BYTES = 1024 * 1024

/**
 * The body, refused with 413 (`tooLarge`) past `limit` bytes: by Content-Length before reading,
 * and while reading for bodies without one (chunked).
 */
export async function readBody(c: Context, limit: number, tooLarge: ErrorCode = 'MESSAGE_TOO_LARGE'): Promise<Uint8Array> {
  const declared = c.req.header('content-length')
  if (declared !== undefined && Number(declared) > limit) fail(tooLarge, `Request body of ${declared} bytes is over the limit of ${limit} bytes`)
  const body = c.req.raw.body
  if (!body) return new Uint8Array(0)
  // With a Content-Length (checked above; the runtime holds the body to it), the runtime
  // reads the body into one buffer: no chunk list, no second copy.
  if (declared !== undefined && /^\d+$/.test(declared)) {
    const bytes = new Uint8Array(await c.req.raw.arrayBuffer())
    if (bytes.byteLength > limit) fail(tooLarge, `Request body is over the limit of ${limit} bytes`)
    return bytes
  }
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > limit) {
      await reader.cancel().catch(() => {})
      fail(tooLarge, `Request body is over the limit of ${limit} bytes`)
    }
    chunks.push(value)
  }
  return concatBytes(chunks, total)
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** A JSON object body; INVALID_REQUEST when it is not JSON or not an object. */
export async function readJson(c: Context, limit = MAX_CONTROL_BODY_BYTES, tooLarge: ErrorCode = 'MESSAGE_TOO_LARGE'): Promise<Record<string, unknown>> {
  const bytes = await readBody(c, limit, tooLarge)
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch (e) {
    fail('INVALID_REQUEST', `Request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('INVALID_REQUEST', 'Request body must be a JSON object')
  return value as Record<string, unknown>
}

/** A non-negative integer query or path value (undefined when absent). */
export function intParam(raw: string | undefined, name: string, options: { min?: number; max?: number; code?: ErrorCode } = {}): number | undefined {
  if (raw === undefined || raw === '') return undefined
  const min = options.min ?? 0
  if (!/^-?\d+$/.test(raw)) fail(options.code ?? 'INVALID_REQUEST', `${name} must be an integer, got ${JSON.stringify(raw)}`)
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < min || (options.max !== undefined && n > options.max)) {
    fail(options.code ?? 'INVALID_REQUEST', `${name} must be an integer from ${min}${options.max !== undefined ? ` to ${options.max}` : ''}, got ${raw}`)
  }
  return n
}
