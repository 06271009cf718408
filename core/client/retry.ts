/** KafkaJS's retry options: retriable errors are tried again with exponential backoff. */
import { isEdgelogError } from '../errors.ts'

export interface RetryOptions {
  retries?: number
  initialRetryTime?: number
  maxRetryTime?: number
  factor?: number
  multiplier?: number
}

export async function retry<T>(options: RetryOptions | undefined, fn: () => Promise<T>): Promise<T> {
  const retries = options?.retries ?? 5
  let wait = options?.initialRetryTime ?? 100
  const maxWait = options?.maxRetryTime ?? 30_000
  const multiplier = options?.multiplier ?? 2
  const factor = options?.factor ?? 0.2
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn()
    } catch (error) {
      if (!isEdgelogError(error) || !error.retriable || attempt >= retries) throw error
      const jitter = 1 + (Math.random() * 2 - 1) * factor
      await new Promise((r) => setTimeout(r, Math.min(maxWait, wait * jitter)))
      wait = Math.min(maxWait, wait * multiplier)
    }
  }
}
