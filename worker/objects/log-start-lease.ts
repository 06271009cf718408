/**
 * Why no cache ever serves an offset below the log start (issue 19, worker/cache.ts).
 *
 * The Workers Cache API cannot be purged everywhere, so the Worker serves a cached sealed read
 * only under a lease from the partition object: an answer of `readCacheable` says "for `ms`
 * from now, my log start stays at or below `floor`", and the Worker serves hits for offsets
 * at or above `floor` until `ms` after it *sent* that request (never later than the object's
 * own reckoning, since the object granted it after the request was sent). Everything that
 * raises the log start (retention, DeleteRecords, a replica reset, dropping the partition)
 * runs through `exclusive`: no new lease is granted from then on, and the change waits until
 * every lease already granted has expired (plus `marginMs` for clock drift between machines).
 * So a cached answer below the log start could only be served by a read that overlaps the
 * call moving the log start, never by one that begins after that call answered.
 *
 * A new instance (a restart) must respect the leases of the one before it: each instance
 * records, ahead of time and at most once per `PERSIST_AHEAD_MS`, a time until which its leases
 * may run (one metadata row, written before the answer that carries the lease leaves: the
 * output gate holds it), and a new instance waits for the recorded time before its first change
 * of the log start. An object that slept (evicted after being idle) finds it long past.
 */
export interface LogStartLease {
  /** How long (ms) the Worker may serve cached reads at or above `floor`, counted from when it sent the request. */
  ms: number
  floor: number
}

/** Where an instance records how long its leases may run, for the next instance. */
export interface LeaseRecord {
  load(): Promise<number | undefined>
  save(until: number): Promise<void>
}

/** Clock drift allowed between the Worker's machine and the object's when a lease ends. */
const LEASE_MARGIN_MS = 250
/** How far ahead the record reaches: one row write per this much time of cached reading. */
const PERSIST_AHEAD_MS = 10_000

export class LogStartLeases {
  /** Leases of EDGELOG_CACHE_FRESH_MS (default 1000); none with the cache off (EDGELOG_CACHE=off). */
  static forEnv(env: { EDGELOG_CACHE?: string; EDGELOG_CACHE_FRESH_MS?: string }, record: LeaseRecord): LogStartLeases {
    const n = Number(env.EDGELOG_CACHE_FRESH_MS)
    const ms = env.EDGELOG_CACHE === 'off' ? 0 : env.EDGELOG_CACHE_FRESH_MS !== undefined && Number.isFinite(n) && n >= 0 ? n : 1000
    return new LogStartLeases(ms, LEASE_MARGIN_MS, record)
  }

  /** The end of the latest lease granted (by this instance, or as recorded by the one before). */
  #grantedUntil = 0
  /** What the record says (undefined: not read yet). */
  #recorded: number | undefined
  #blocked = 0
  #queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly ms: number,
    private readonly marginMs: number,
    private readonly record: LeaseRecord,
    private readonly now: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<unknown> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  async #load(): Promise<void> {
    if (this.#recorded !== undefined) return
    const recorded = (await this.record.load()) ?? 0
    this.#recorded ??= recorded
    this.#grantedUntil = Math.max(this.#grantedUntil, recorded)
  }

  /** A lease on the current log start, unless a change of it is waiting or running (or leases are off). */
  async grant(logStartOffset: number): Promise<LogStartLease | undefined> {
    if (this.#blocked > 0 || !(this.ms > 0)) return undefined
    await this.#load()
    if (this.#blocked > 0) return undefined
    const until = this.now() + this.ms
    // Counted before the record is written: a change that starts meanwhile waits for this lease too.
    this.#grantedUntil = Math.max(this.#grantedUntil, until)
    if (until > this.#recorded!) {
      this.#recorded = until + PERSIST_AHEAD_MS
      await this.record.save(this.#recorded)
    }
    return { ms: this.ms, floor: logStartOffset }
  }

  /** Runs `fn` (which may raise the log start) once no lease granted before it can still be used; one at a time. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    this.#blocked++
    const run = this.#queue.then(async () => {
      if (this.ms > 0) await this.#load()
      const wait = this.#grantedUntil + this.marginMs - this.now()
      if (this.#grantedUntil > 0 && wait > 0) await this.sleep(wait)
      return fn()
    })
    this.#queue = run.catch(() => undefined)
    return run.finally(() => { this.#blocked-- })
  }
}
