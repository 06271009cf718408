/**
 * The transaction coordinator (Kafka's TransactionCoordinator, KIP-98) over the storage port:
 * one state record per transactional id (state.ts), changed by InitProducerId,
 * AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn, and by its own timeout
 * aborts. Requests on one transactional id run one at a time (across browser tabs under the
 * store's lock, after reading the record again). Markers go through a MarkerWriter.
 *
 * Ending a transaction: persist Prepare{Commit,Abort}; write the markers into every partition
 * and complete the groups' offsets; persist Complete{Commit,Abort}. A failure between leaves
 * Prepare*, finished by the next request on the id or by `expire()` (maintenance).
 */
import type { OffsetCommit, TopicPartitions, TxnProducer } from '../broker.ts'
import { EdgelogError } from '../errors.ts'
import type { StorageAdapter } from '../storage.ts'
import {
  MAX_PRODUCER_EPOCH, MAX_TRANSACTION_TIMEOUT_MS, TXN_PREFIX, checkProducer, hasPartition, mergePartitions, samePartitions,
  txnKey, validateTimeout, validateTransactionalId, type MarkerWriter, type TxnMetadata,
} from './state.ts'

export interface TransactionCoordinatorOptions {
  storage: StorageAdapter
  markers: MarkerWriter
  now?: () => number
  /** A new producer id (the broker's allocator, shared with idempotent producers). */
  allocateProducerId: () => Promise<number>
  /** Whether the partition exists (AddPartitionsToTxn refuses others, changing nothing). */
  partitionExists: (topic: string, partition: number) => Promise<boolean>
  /** Stores the producer's pending offsets for the group (the group coordinator's TxnOffsetCommit). */
  commitGroupOffsets: (req: { groupId: string; producerId: number; producerEpoch: number; offsets: OffsetCommit[] }) => Promise<void>
  /** Kafka's transaction.max.timeout.ms. */
  maxTimeoutMs?: number
  /** Kafka's transactional.id.expiration.ms: an id with nothing open, unused this long, is forgotten (default 7 days). */
  idExpirationMs?: number
}

export class TransactionCoordinator {
  private readonly storage: StorageAdapter
  private readonly now: () => number
  private readonly maxTimeoutMs: number
  /** Records as last read or written (with a shared store, read again under the lock before use). */
  private readonly cache = new Map<string, TxnMetadata>()
  private readonly byProducer = new Map<number, string>()
  private readonly queues = new Map<string, Promise<unknown>>()
  /** Transactional appends verified and not yet settled, per id: EndTxn waits for them. */
  private readonly inFlight = new Map<string, { count: number; drained: Array<() => void> }>()
  /** Ids whose EndTxn is under way: no new append is verified for them (it could land after a marker). */
  private readonly ending = new Set<string>()
  private scanned: Promise<void> | undefined

  constructor(private readonly options: TransactionCoordinatorOptions) {
    this.storage = options.storage
    this.now = options.now ?? Date.now
    this.maxTimeoutMs = options.maxTimeoutMs ?? MAX_TRANSACTION_TIMEOUT_MS
  }

  private get shared(): boolean {
    return this.storage.capabilities.shared && typeof this.storage.lock === 'function'
  }

  /** InitProducerId with a transactional id: a new epoch (fencing the previous producer), its ongoing transaction aborted first. */
  async initProducerId(req: { transactionalId: string; transactionTimeoutMs?: number; producerId?: number; producerEpoch?: number }): Promise<{ producerId: number; producerEpoch: number }> {
    validateTransactionalId(req.transactionalId)
    const timeoutMs = validateTimeout(req.transactionTimeoutMs, this.maxTimeoutMs)
    const bumpOf = req.producerId !== undefined && req.producerId !== -1 ? { producerId: req.producerId, producerEpoch: req.producerEpoch } : undefined
    return this.withTxn(req.transactionalId, async (m) => {
      const now = this.now()
      if (!m) {
        if (bumpOf) throw new EdgelogError('INVALID_PRODUCER_ID_MAPPING', `Transactional id '${req.transactionalId}' has no producer ${bumpOf.producerId}`)
        const producerId = await this.options.allocateProducerId()
        return this.reset({ transactionalId: req.transactionalId, producerId, producerEpoch: 0, state: 'Empty', timeoutMs, partitions: [], groups: [], startedAt: -1, updatedAt: now }, timeoutMs, false)
      }
      // The producer asking its own epoch to be bumped (after an abort) must be the current one.
      if (bumpOf) checkProducer(m, bumpOf.producerId, bumpOf.producerEpoch)
      m = await this.finish(m)
      if (m.state === 'Ongoing') {
        // Aborted with the next epoch, which is then the new producer's (a new id if epochs ran out).
        const ended = await this.end(m, false, true)
        return this.reset(ended, timeoutMs, ended.producerEpoch === m.producerEpoch)
      }
      return this.reset(m, timeoutMs, true)
    })
  }

  /** AddPartitionsToTxn: all the partitions join (the transaction starts with the first), or none on any error. */
  addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void> {
    validateTransactionalId(req?.transactionalId)
    return this.withTxn(req.transactionalId, async (m) => {
      const current = await this.current(m, req)
      const partitions = mergePartitions(current.partitions, req.topics)
      for (const t of req.topics) for (const p of t.partitions) {
        if (!(await this.options.partitionExists(t.topic, p))) throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${t.topic}' has no partition ${p}`)
      }
      if (current.state === 'Ongoing' && samePartitions(partitions, current.partitions)) return
      await this.begin(current, { partitions })
    })
  }

  /** AddOffsetsToTxn: the group's offsets sent in this transaction commit with it. */
  addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<void> {
    validateTransactionalId(req?.transactionalId)
    if (typeof req.groupId !== 'string' || req.groupId.length === 0) throw new EdgelogError('INVALID_GROUP_ID', `Invalid group id ${JSON.stringify(req.groupId)}`)
    return this.withTxn(req.transactionalId, async (m) => {
      const current = await this.current(m, req)
      if (current.state === 'Ongoing' && current.groups.includes(req.groupId)) return
      await this.begin(current, { groups: [...new Set([...current.groups, req.groupId])].sort() })
    })
  }

  /** TxnOffsetCommit: checked against the transaction (ongoing, group added), stored pending by the group coordinator. */
  txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void> {
    validateTransactionalId(req?.transactionalId)
    return this.withTxn(req.transactionalId, async (m) => {
      const current = await this.current(m, req)
      if (current.state !== 'Ongoing' || !current.groups.includes(req.groupId)) {
        throw new EdgelogError('INVALID_TXN_STATE', `Group '${req.groupId}' was not added to the transaction of '${req.transactionalId}' (addOffsetsToTxn first)`)
      }
      await this.options.commitGroupOffsets({ groupId: req.groupId, producerId: current.producerId, producerEpoch: current.producerEpoch, offsets: req.offsets })
    })
  }

  /** EndTxn: commit or abort; resolves once every marker is written. A retry of the same end succeeds. */
  endTxn(req: TxnProducer & { committed: boolean }): Promise<void> {
    validateTransactionalId(req?.transactionalId)
    if (typeof req.committed !== 'boolean') throw new EdgelogError('INVALID_REQUEST', 'committed must be true or false')
    return this.withTxn(req.transactionalId, async (m) => {
      const current = await this.current(m, req)
      const ended = req.committed ? 'CompleteCommit' : 'CompleteAbort'
      if (current.state === ended) return // a retry whose first answer was lost
      if (current.state !== 'Ongoing') {
        throw new EdgelogError('INVALID_TXN_STATE', `Cannot ${req.committed ? 'commit' : 'abort'}: the transaction of '${req.transactionalId}' is ${current.state}`)
      }
      this.ending.add(req.transactionalId)
      try {
        await this.drain(req.transactionalId)
        await this.end(current, req.committed, false)
      } finally {
        this.ending.delete(req.transactionalId)
      }
    })
  }

  /**
   * Checks a transactional batch before the partition appends it (as KIP-890's verification):
   * the producer's transaction is ongoing at this epoch and holds the partition, so no batch
   * can open a transaction the coordinator will never end. Answers a release to call once the
   * append settled; EndTxn waits for those.
   */
  async verifyAppend(producerId: number, producerEpoch: number, topic: string, partition: number): Promise<() => void> {
    let m: TxnMetadata | undefined
    let id = this.byProducer.get(producerId)
    if (id === undefined) {
      await this.scan(this.scanned !== undefined)
      id = this.byProducer.get(producerId)
    }
    if (id !== undefined) m = this.shared ? await this.read(id) : this.cache.get(id) ?? await this.read(id)
    if (!m || m.producerId !== producerId) throw new EdgelogError('INVALID_PRODUCER_ID_MAPPING', `Producer ${producerId} has no transactional id here`)
    if (producerEpoch !== m.producerEpoch) throw new EdgelogError('INVALID_PRODUCER_EPOCH', `Producer epoch ${producerEpoch} is fenced: the current epoch of '${m.transactionalId}' is ${m.producerEpoch}`)
    if (m.state !== 'Ongoing' || this.ending.has(m.transactionalId) || !hasPartition(m, topic, partition)) {
      throw new EdgelogError('INVALID_TXN_STATE', `${topic}-${partition} is not in an ongoing transaction of '${m.transactionalId}' (addPartitionsToTxn first)`)
    }
    const key = m.transactionalId
    const entry = this.inFlight.get(key) ?? { count: 0, drained: [] }
    entry.count++
    this.inFlight.set(key, entry)
    let released = false
    return () => {
      if (released) return
      released = true
      if (--entry.count > 0) return
      this.inFlight.delete(key)
      for (const wake of entry.drained.splice(0)) wake()
    }
  }

  /**
   * Maintenance: aborts transactions past their timeout (fencing their epoch) and finishes
   * those a crash left in Prepare*; forgets ids idle past transactional.id.expiration.ms (a
   * producer that comes back later starts as new, with a new producer id). Answers how many
   * transactions it ended.
   */
  async expire(): Promise<number> {
    await this.scan(true)
    let ended = 0
    const idleSince = this.now() - (this.options.idExpirationMs ?? DEFAULT_ID_EXPIRATION_MS)
    for (const id of [...this.cache.keys()]) {
      const m = this.cache.get(id)!
      if (isIdle(m) && m.updatedAt < idleSince) {
        await this.withTxn(id, async (fresh) => {
          if (fresh && isIdle(fresh) && fresh.updatedAt < idleSince && !this.inFlight.has(id)) await this.forget(fresh)
        })
        continue
      }
      if (!this.due(m) && !m.state.startsWith('Prepare')) continue
      await this.withTxn(id, async (fresh) => {
        if (!fresh) return
        if (fresh.state.startsWith('Prepare') || this.due(fresh)) ended++
        await this.current(fresh, undefined)
      })
    }
    return ended
  }

  /** Whether any transaction here may need `expire` (an ongoing or unfinished one, or none read yet). */
  get hasWork(): boolean {
    if (this.scanned === undefined) return true
    for (const m of this.cache.values()) if (m.state === 'Ongoing' || m.state.startsWith('Prepare')) return true
    return false
  }

  /** The id's record, finished (Prepare*) and timed out as due, and the request's producer checked. */
  private async current(m: TxnMetadata | undefined, req: TxnProducer | undefined): Promise<TxnMetadata> {
    if (!m) throw new EdgelogError('INVALID_PRODUCER_ID_MAPPING', `Unknown transactional id '${req?.transactionalId}' (initProducerId first)`)
    m = await this.finish(m)
    if (this.due(m)) m = await this.end(m, false, true)
    if (req) checkProducer(m, req.producerId, req.producerEpoch)
    return m
  }

  private due(m: TxnMetadata): boolean {
    return m.state === 'Ongoing' && this.now() - m.startedAt > m.timeoutMs
  }

  /** A transaction starts (or grows). */
  private async begin(m: TxnMetadata, change: Partial<Pick<TxnMetadata, 'partitions' | 'groups'>>): Promise<void> {
    const now = this.now()
    const ongoing = m.state === 'Ongoing'
    await this.save({
      ...m, state: 'Ongoing', startedAt: ongoing ? m.startedAt : now, updatedAt: now,
      partitions: change.partitions ?? (ongoing ? m.partitions : []), groups: change.groups ?? (ongoing ? m.groups : []),
    })
  }

  /** Ends an ongoing transaction: Prepare*, markers, Complete*. `fence`: with the next epoch (timeouts, a new producer). */
  private async end(m: TxnMetadata, commit: boolean, fence: boolean): Promise<TxnMetadata> {
    const producerEpoch = fence && m.producerEpoch < MAX_PRODUCER_EPOCH ? m.producerEpoch + 1 : m.producerEpoch
    const prepared: TxnMetadata = { ...m, producerEpoch, state: commit ? 'PrepareCommit' : 'PrepareAbort', updatedAt: this.now() }
    await this.save(prepared)
    return this.finish(prepared)
  }

  /** Writes a Prepare* transaction's markers (again, after a crash) and completes it. */
  private async finish(m: TxnMetadata): Promise<TxnMetadata> {
    if (m.state !== 'PrepareCommit' && m.state !== 'PrepareAbort') return m
    const commit = m.state === 'PrepareCommit'
    const { producerId, producerEpoch } = m
    if (m.partitions.length > 0) await this.options.markers.writeMarkers({ partitions: m.partitions, producerId, producerEpoch, commit, coordinatorEpoch: 0 })
    for (const groupId of m.groups) await this.options.markers.completeGroupOffsets({ groupId, producerId, producerEpoch, commit })
    const complete: TxnMetadata = { ...m, state: commit ? 'CompleteCommit' : 'CompleteAbort', partitions: [], groups: [], startedAt: -1, updatedAt: this.now() }
    await this.save(complete)
    return complete
  }

  /** A new producer session: the next epoch (or a new producer id when epochs run out), nothing ongoing. */
  private async reset(m: TxnMetadata, timeoutMs: number, bump: boolean): Promise<{ producerId: number; producerEpoch: number }> {
    let { producerId, producerEpoch } = m
    if (bump) {
      if (producerEpoch >= MAX_PRODUCER_EPOCH - 1) {
        producerId = await this.options.allocateProducerId()
        producerEpoch = 0
      } else producerEpoch++
    }
    if (producerId !== m.producerId) this.byProducer.delete(m.producerId)
    await this.save({ ...m, producerId, producerEpoch, state: 'Empty', timeoutMs, partitions: [], groups: [], startedAt: -1, updatedAt: this.now() })
    return { producerId, producerEpoch }
  }

  /** Deletes an idle id's record. */
  private async forget(m: TxnMetadata): Promise<void> {
    try {
      await this.storage.commit({ meta: [{ key: txnKey(m.transactionalId), value: undefined }], durability: 'strict' })
    } finally {
      this.cache.delete(m.transactionalId)
      if (this.byProducer.get(m.producerId) === m.transactionalId) this.byProducer.delete(m.producerId)
    }
  }

  private async save(m: TxnMetadata): Promise<void> {
    try {
      await this.storage.commit({ meta: [{ key: txnKey(m.transactionalId), value: m }], durability: 'strict' })
    } catch (error) {
      // Perhaps applied (an ambiguous failure): the next use reads the record again.
      this.cache.delete(m.transactionalId)
      throw error
    }
    this.cache.set(m.transactionalId, m)
    this.byProducer.set(m.producerId, m.transactionalId)
  }

  private async read(id: string): Promise<TxnMetadata | undefined> {
    const m = await this.storage.getMeta<TxnMetadata>(txnKey(id))
    if (m) {
      this.cache.set(id, m)
      this.byProducer.set(m.producerId, id)
    } else this.cache.delete(id)
    return m
  }

  /** Reads every record once (and again when `again`, or with a shared store). */
  private scan(again = false): Promise<void> {
    if (this.scanned === undefined || again) {
      const scanning = (async () => {
        for (const { value } of await this.storage.listMeta<TxnMetadata>(TXN_PREFIX)) {
          this.cache.set(value.transactionalId, value)
          this.byProducer.set(value.producerId, value.transactionalId)
        }
      })()
      this.scanned = scanning
      scanning.catch(() => { if (this.scanned === scanning) this.scanned = undefined })
      return scanning
    }
    return this.scanned
  }

  /** Waits for the verified appends of the id to settle. */
  private drain(id: string): Promise<void> {
    const entry = this.inFlight.get(id)
    if (!entry) return Promise.resolve()
    return new Promise((resolve) => entry.drained.push(resolve))
  }

  /** Runs `fn` alone for this id, on its current record (read again with a shared store). */
  private withTxn<T>(id: string, fn: (m: TxnMetadata | undefined) => Promise<T>): Promise<T> {
    const run = async () => fn(this.shared || !this.cache.has(id) ? await this.read(id) : this.cache.get(id))
    const task = () => (this.shared ? this.storage.lock!(`edgelog-txn:${id}`, run) : run())
    const result = (this.queues.get(id) ?? Promise.resolve()).then(task, task)
    const tail = result.catch(() => undefined)
    this.queues.set(id, tail)
    void tail.then(() => { if (this.queues.get(id) === tail) this.queues.delete(id) })
    return result
  }
}

/** Kafka's transactional.id.expiration.ms default. */
const DEFAULT_ID_EXPIRATION_MS = 7 * 24 * 3600 * 1000

/** Nothing open or unfinished: the id may expire. */
function isIdle(m: TxnMetadata): boolean {
  return m.state === 'Empty' || m.state === 'CompleteCommit' || m.state === 'CompleteAbort'
}
