/**
 * A partition object's own accounting of what Cloudflare bills it for: requests (RPC calls,
 * the watch upgrade, WebSocket events), and the wall-clock time during which at least one of
 * them was in progress (the object's duration, while it is not hibernated). Kept per isolate
 * (module state, by object id), so it survives the object being evicted and constructed again
 * in the same isolate; `wakes` counts those constructions. Read by tests and benchmarks
 * through `PartitionObject.activity()` and `GET /v1/topics/:topic/partitions/:p/activity`.
 */
export interface ActivitySnapshot {
  /** Requests in progress now (the call asking excluded). */
  inFlight: number
  /** Requests handled since the isolate started. */
  requests: number
  /** Milliseconds during which at least one request was in progress. */
  busyMs: number
  /** Times the object was constructed (started, or woken after eviction). */
  wakes: number
  /** Watchers (waiting Workers' hibernatable WebSockets) connected now. */
  watchers: number
  /** Messages pushed to watchers. */
  pushed: number
  /** Requests that parked inside the object (fetchBatches with maxWaitMs: the old way). */
  parked: number
  /** SQLite rows read and written by the object's storage (billed rows; adapters/durable-object/row-meter.ts). */
  rowsRead: number
  rowsWritten: number
}

interface Totals { inFlight: number; requests: number; busyMs: number; busySince: number; wakes: number; pushed: number; parked: number; rowsRead: number; rowsWritten: number }

const totals = new Map<string, Totals>()

export class Activity {
  private readonly t: Totals

  constructor(id: string) {
    let t = totals.get(id)
    if (!t) totals.set(id, (t = { inFlight: 0, requests: 0, busyMs: 0, busySince: 0, wakes: 0, pushed: 0, parked: 0, rowsRead: 0, rowsWritten: 0 }))
    t.wakes++
    this.t = t
  }

  async track<T>(fn: () => Promise<T>): Promise<T> {
    const t = this.t
    if (t.inFlight++ === 0) t.busySince = performance.now()
    t.requests++
    try {
      return await fn()
    } finally {
      if (--t.inFlight === 0) t.busyMs += performance.now() - t.busySince
    }
  }

  pushed(n: number): void { this.t.pushed += n }
  parked(): void { this.t.parked++ }
  rows(read: number, written: number): void { this.t.rowsRead += read; this.t.rowsWritten += written }

  snapshot(watchers: number, self = 0): ActivitySnapshot {
    const t = this.t
    const busyMs = t.busyMs + (t.inFlight > self ? performance.now() - t.busySince : 0)
    return { inFlight: t.inFlight - self, requests: t.requests, busyMs: Math.round(busyMs * 10) / 10, wakes: t.wakes, watchers, pushed: t.pushed, parked: t.parked, rowsRead: t.rowsRead, rowsWritten: t.rowsWritten }
  }
}
