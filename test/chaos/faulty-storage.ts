/**
 * A storage adapter that fails the way real stores do, around any other adapter: a commit
 * that throws before applying anything, one that applies and then throws (the ambiguous case:
 * the caller cannot tell it was stored), slow commits, and reads that fail. Faults are drawn
 * from a seeded generator, so a failing run replays exactly.
 */
import { EdgelogError } from '../../core/errors.ts'
import type { MetaEntry, ReadBatchesOptions, StorageAdapter, StorageWrite, StoredBatch, StreamId } from '../../core/storage.ts'

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

export class FaultyStorage implements StorageAdapter {
  rates: FaultRates
  readonly injected = { failedBefore: 0, ambiguous: 0, failedReads: 0, slow: 0, commits: 0 }

  constructor(readonly inner: StorageAdapter, rates: FaultRates, private readonly random: () => number) {
    this.rates = rates
  }

  get capabilities() { return this.inner.capabilities }

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
