/**
 * Long-poll support: fetches parked at the end of a partition wake when an append moves the
 * high watermark past their offset (and about `minBytes` arrived), or when their time is up.
 * No polling loop: a timer per waiter, cleared when it wakes.
 */
interface Waiter {
  offset: number
  minBytes: number
  bytesSeen: number
  resolve: () => void
  timer: ReturnType<typeof setTimeout> | undefined
  onAbort?: () => void
  signal?: AbortSignal
}

export class OffsetWaiters {
  private readonly waiters = new Set<Waiter>()

  wait(offset: number, maxWaitMs: number, minBytes: number, signal?: AbortSignal): Promise<void> {
    if (maxWaitMs <= 0 || signal?.aborted) return Promise.resolve()
    return new Promise<void>((resolve) => {
      const waiter: Waiter = { offset, minBytes, bytesSeen: 0, resolve, timer: undefined, signal }
      waiter.timer = setTimeout(() => this.release(waiter), maxWaitMs)
      if (signal) {
        waiter.onAbort = () => this.release(waiter)
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.waiters.add(waiter)
    })
  }

  /** The log now ends at `nextOffset`; `bytes` were just appended. */
  notify(nextOffset: number, bytes: number): void {
    for (const waiter of this.waiters) {
      if (nextOffset <= waiter.offset) continue
      waiter.bytesSeen += bytes
      if (waiter.minBytes <= 1 || waiter.bytesSeen >= waiter.minBytes || bytes === 0) this.release(waiter)
    }
  }

  cancelAll(): void {
    for (const waiter of this.waiters) this.release(waiter)
  }

  get size(): number { return this.waiters.size }

  private release(waiter: Waiter): void {
    if (!this.waiters.delete(waiter)) return
    if (waiter.timer !== undefined) clearTimeout(waiter.timer)
    if (waiter.onAbort) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    waiter.resolve()
  }
}
