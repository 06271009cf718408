/** KafkaJS's retry options: retriable errors are tried again with exponential backoff. */
import { isEdgelogError } from '../errors.ts'

export interface RetryOptions {
  retries?: number
  initialRetryTime?: number
  maxRetryTime?: number
  factor?: number
  multiplier?: number
}

/**
 * Runs `fn`, again after a backoff while it fails with a retriable EdgelogError, up to
 * `retries` times. `signal` ends a backoff at once (a client disconnecting): the last error is
 * thrown then, and no timer is left behind.
 */
export async function retry<T>(options: RetryOptions | undefined, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const retries = options?.retries ?? 5
  let wait = options?.initialRetryTime ?? 100
  const maxWait = options?.maxRetryTime ?? 30_000
  const multiplier = options?.multiplier ?? 2
  const factor = options?.factor ?? 0.2
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (!isEdgelogError(error) || !error.retriable || attempt >= retries || signal?.aborted) throw error
      const jitter = 1 + (Math.random() * 2 - 1) * factor
      if (!(await sleep(Math.min(maxWait, wait * jitter), signal))) throw error
      wait = Math.min(maxWait, wait * multiplier)
    }
  }
}

/** Waits `ms`; false when `signal` aborted the wait (its timer is cleared). */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise<boolean>((resolve) => {
    const done = (slept: boolean) => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(slept)
    }
    const onAbort = () => done(false)
    const timer = setTimeout(() => done(true), ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
