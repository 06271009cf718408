/**
 * acks=all requests parked on a leader until the high watermark reaches the end of their
 * batch (the whole ISR has it), the leader loses its leadership, or their time is up.
 */
import { EdgelogError } from '../errors.ts'

interface AckWaiter {
  end: number
  check: () => EdgelogError | undefined
  resolve: () => void
  reject: (error: unknown) => void
  timer: ReturnType<typeof setTimeout>
}

export class AckWaiters {
  private readonly waiters = new Set<AckWaiter>()

  /** Resolves once the high watermark is at or past `end`, unless `check` then finds a reason to refuse. */
  wait(end: number, highWatermark: number, timeoutMs: number, check: () => EdgelogError | undefined): Promise<void> {
    if (highWatermark >= end) {
      const error = check()
      return error ? Promise.reject(error) : Promise.resolve()
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: AckWaiter = {
        end, check, resolve, reject,
        timer: setTimeout(() => {
          if (!this.waiters.delete(waiter)) return
          reject(new EdgelogError('REQUEST_TIMED_OUT', `The ISR did not reach offset ${end - 1} within ${timeoutMs} ms (the record may still be committed later)`))
        }, timeoutMs),
      }
      this.waiters.add(waiter)
    })
  }

  /** The high watermark moved to `highWatermark`. */
  reached(highWatermark: number): void {
    for (const w of this.waiters) {
      if (w.end > highWatermark) continue
      this.waiters.delete(w)
      clearTimeout(w.timer)
      const error = w.check()
      if (error) w.reject(error)
      else w.resolve()
    }
  }

  failAll(error: () => EdgelogError): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer)
      w.reject(error())
    }
    this.waiters.clear()
  }

  get size(): number { return this.waiters.size }
}
