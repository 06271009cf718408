/**
 * Durable Object RPC keeps an Error's message but not its own fields, so every object method
 * answers with an envelope and the caller rebuilds the EdgelogError (same `code`) from it.
 */
import { EdgelogError, errorFromJSON, isEdgelogError, type ErrorCode } from '../core/errors.ts'
import { resolveLogSettings, type LogSettings } from '../core/config.ts'
import type { EdgelogEnv } from './env.ts'

export type Result<T> = { ok: true; value: T } | { ok: false; error: { code: ErrorCode; message: string } }

/** Runs `fn`, turning a thrown error into the envelope (unknown errors become UNKNOWN_SERVER_ERROR). */
export async function envelope<T>(fn: () => Promise<T> | T): Promise<Result<T>> {
  try {
    return { ok: true, value: await fn() }
  } catch (error) {
    if (isEdgelogError(error)) return { ok: false, error: { code: error.code, message: error.message } }
    const message = error instanceof Error ? error.message : String(error)
    return { ok: false, error: { code: 'UNKNOWN_SERVER_ERROR', message } }
  }
}

/** Unwraps an envelope: the value, or the EdgelogError it carried. */
export async function unwrap<T>(call: Promise<Result<T>> | Result<T>): Promise<T> {
  let result: Result<T>
  try {
    result = await call
  } catch (error) {
    // The object itself failed (reset, overloaded, code update): retriable.
    const message = error instanceof Error ? error.message : String(error)
    throw new EdgelogError('NETWORK_EXCEPTION', `Durable Object call failed: ${message}`, { cause: error, retriable: true })
  }
  if (result.ok) return result.value
  throw errorFromJSON(result.error)
}

const settingsCache = new WeakMap<object, LogSettings>()

/** The Kafka broker settings of this deployment (EDGELOG_SETTINGS over the defaults). */
export function settingsOf(env: EdgelogEnv): LogSettings {
  const raw = env.EDGELOG_SETTINGS
  if (!raw) return resolveLogSettings()
  const cached = settingsCache.get(env as object)
  if (cached) return cached
  let parsed: unknown
  try {
    parsed = JSON.parse(raw)
  } catch {
    throw new EdgelogError('INVALID_CONFIG', 'EDGELOG_SETTINGS is not valid JSON')
  }
  const settings = resolveLogSettings(parsed as Partial<LogSettings>)
  settingsCache.set(env as object, settings)
  return settings
}
