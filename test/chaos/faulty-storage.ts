/**
 * A storage adapter that fails the way real stores do, around any other adapter: a commit
 * that throws before applying anything, one that applies and then throws (the ambiguous case:
 * the caller cannot tell it was stored), slow commits, and reads that fail. Faults are drawn
 * from a seeded generator, so a failing run replays exactly.
 */
import { EdgelogError } from '../../core/errors.ts'
import type { MetaEntry, ReadBatchesOptions, StorageAdapter, StorageCapabilities, StorageChange, StorageWrite, StoredBatch, StreamId } from '../../core/storage.ts'

export interface FaultRates {
  /** Probability that a commit throws before applying anything. */
  commitFailsBefore: number
  /** Probability that a commit applies, then throws. */
  commitFailsAfter: number
  /** Probability that a read (batches or meta) throws. */
  readFails: number
  /** Probability that a commit waits up to `maxDelayMs` first. */
  slowCommit: number
  maxDelayMs: number
}

export const NO_FAULTS: FaultRates = { commitFailsBefore: 0, commitFailsAfter: 0, readFails: 0, slowCommit: 0, maxDelayMs: 0 }

/** A small seeded generator (mulberry32): the same seed, the same faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * One store shared by several contexts (browser tabs over one IndexedDB database): locks that
 * exclude across them, and each commit announced to the other contexts once it completed, as
 * the IndexedDB adapter does over a BroadcastChannel. A commit that failed after applying is
 * not announced (the context that made it may be gone): the others learn of it only from their
 * own commits' preconditions.
 */
export class SharingHub {
  private readonly listeners = new Map<number, Set<(change: StorageChange) => void>>()
  private readonly locks = new Map<string, Promise<unknown>>()

  lock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(name) ?? Promise.resolve()
    const run = previous.catch(() => {}).then(fn)
    this.locks.set(name, run)
    return run
  }

  watch(context: number, listener: (change: StorageChange) => void): () => void {
    let set = this.listeners.get(context)
    if (!set) this.listeners.set(context, (set = new Set()))
    set.add(listener)
    return () => set!.delete(listener)
  }

  announce(from: number, write: StorageWrite): void {
    const changes: StorageChange[] = []
    const next = new Map<StreamId, number>()
    for (const { stream, batch } of write.batches ?? []) next.set(stream, Math.max(next.get(stream) ?? 0, batch.lastOffset + 1))
    for (const [stream, nextOffset] of next) changes.push({ kind: 'append', stream, nextOffset })
    for (const { key } of write.meta ?? []) changes.push({ kind: 'meta', key })
    // Delivered later, as a message between contexts is.
    setTimeout(() => {
      for (const [context, set] of this.listeners) if (context !== from) for (const l of set) for (const c of changes) l(c)
    }, 0)
  }
}

export class FaultyStorage implements StorageAdapter {
  rates: FaultRates
  readonly injected = { failedBefore: 0, ambiguous: 0, failedReads: 0, slow: 0, commits: 0 }
  readonly capabilities: StorageCapabilities

  constructor(
    readonly inner: StorageAdapter, rates: FaultRates, private readonly random: () => number,
    private readonly sharing?: { hub: SharingHub; context: number },
  ) {
    this.rates = rates
    this.capabilities = sharing ? { ...inner.capabilities, shared: true } : inner.capabilities
    if (sharing) {
      this.lock = (name, fn) => sharing.hub.lock(name, fn)
      this.watch = (listener) => sharing.hub.watch(sharing.context, listener)
    }
  }

  lock?<T>(name: string, fn: () => Promise<T>): Promise<T>
  watch?(listener: (change: StorageChange) => void): () => void

  async commit(write: StorageWrite): Promise<void> {
    this.injected.commits++
    if (this.random() < this.rates.slowCommit) {
      this.injected.slow++
      await new Promise((r) => setTimeout(r, this.random() * this.rates.maxDelayMs))
    }
    if (this.random() < this.rates.commitFailsBefore) {
      this.injected.failedBefore++
      throw new EdgelogError('STORAGE_ERROR', 'injected: the commit failed before applying')
    }
    await this.inner.commit(write)
    if (this.random() < this.rates.commitFailsAfter) {
      this.injected.ambiguous++
      throw new EdgelogError('STORAGE_ERROR', 'injected: the commit applied, then failed')
    }
    this.sharing?.hub.announce(this.sharing.context, write)
  }

  private readFault(what: string): void {
    if (this.random() < this.rates.readFails) {
      this.injected.failedReads++
      throw new EdgelogError('STORAGE_ERROR', `injected: ${what} failed`)
    }
  }

  async readBatches(stream: StreamId, fromOffset: number, options: ReadBatchesOptions): Promise<StoredBatch[]> {
    this.readFault('readBatches')
    return this.inner.readBatches(stream, fromOffset, options)
  }

  async getMeta<T = unknown>(key: string): Promise<T | undefined> {
    this.readFault('getMeta')
    return this.inner.getMeta<T>(key)
  }

  async listMeta<T = unknown>(prefix: string): Promise<Array<MetaEntry<T>>> {
    this.readFault('listMeta')
    return this.inner.listMeta<T>(prefix)
  }

  close(): Promise<void> { return Promise.resolve() }
}
