/**
 * The broker in process: topics (TopicRegistry), one PartitionLog per partition, and the
 * group coordinator, all over one storage adapter. Serves the Broker protocol to the
 * KafkaJS-shaped client directly, or across a worker boundary.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import { hasDeletion, resolveLogSettings, type LogSettings, type TopicConfig } from '../config.ts'
import type {
  Broker, ClusterInfo, DeleteRecordsResult, FetchOptions, FetchRequest, FetchResult, GroupHeartbeatRequest, InitProducerIdRequest, InitProducerIdResult,
  ListOffsetsResult, OffsetCommit, OffsetSpec, PartitionState, ProduceRequest, ProduceResult, TopicMetadata, TopicPartitions, TopicSpec, TxnProducer,
} from '../broker.ts'
import type { StorageAdapter, StorageChange } from '../storage.ts'
import { GroupCoordinator } from '../groups/coordinator.ts'
import { keys, streamId } from './keys.ts'
import { PartitionLog } from './partition-log.ts'
import { Replicas } from './replicas.ts'
import { Outbox } from '../sync/outbox.ts'
import { SyncView } from '../sync/view.ts'
import { SchemaValidator, validatesSchemas } from '../schemas/validation.ts'
import { randomId, TopicRegistry, validatePartitionCount, validateTopicName, type TopicRecord } from './topic-registry.ts'
import { groupEntriesByPartition } from './produce-groups.ts'
import { concatBytes } from '../codec/bytes.ts'
import { validatePartitionIndex, validateOffset, validateMaxBytes } from './validate.ts'
import type { TransactionCoordinator } from '../txn/coordinator.ts'
import { localTransactionCoordinator, verifyTransactional } from '../txn/local.ts'

export interface LocalBrokerOptions {
  storage: StorageAdapter
  settings?: Partial<LogSettings>
  now?: () => number
  /**
   * What a local producer's write to a replica topic does: 'refuse' (NOT_LEADER_OR_FOLLOWER,
   * the default) or 'outbox' (kept durably until a forwarder delivers it to the leader: the
   * browser following the edge, core/sync).
   */
  replicaProduce?: 'refuse' | 'outbox'
  /** Topics this log follows from a leader: never auto-created here. */
  isFollowed?: (topic: string) => boolean
  /** Kafka's transaction.abort.timed.out.transaction.cleanup.interval.ms (default 10 s; 0: only on maintenance and access). */
  transactionCleanupIntervalMs?: number
}

/** Kafka's default fetch.max.wait.ms is 500; a parked fetch never waits longer than this. */
const MAX_FETCH_WAIT_MS = 60_000

export class LocalBroker implements Broker {
  readonly storage: StorageAdapter
  readonly settings: LogSettings
  readonly topics: TopicRegistry
  readonly groups: GroupCoordinator
  /** The transaction coordinator (core/txn): its markers go into this broker's partition logs and groups. */
  readonly transactions: TransactionCoordinator
  /** Local replicas of remote topics, written by a follower (core/sync). */
  readonly replicas: Replicas = new Replicas(this)
  /** Local writes to replica topics, waiting for the leader (replicaProduce: 'outbox'). */
  readonly outbox: Outbox | undefined
  /** Checks schema ids for topics with confluent.*.schema.validation (made on first use). */
  private schemaValidator: SchemaValidator | undefined
  /** The sync's status, outbox and deliveries as stored (any context sharing the store). */
  readonly syncView: SyncView | undefined
  private readonly now: () => number
  private readonly partitions = new Map<string, Promise<PartitionLog>>()
  /** The logs of `partitions` once open, to notice one that found its topic deleted. */
  private readonly opened = new Map<string, PartitionLog>()
  /** Current config per topic id, shared by that topic's partition logs. */
  private readonly configs = new Map<string, TopicConfig>()
  private readonly timers: Array<ReturnType<typeof setInterval>> = []
  private groupTimer: ReturnType<typeof setTimeout> | undefined
  private unwatch: (() => void) | undefined
  private closed = false

  constructor(private readonly options: LocalBrokerOptions) {
    this.storage = options.storage
    this.settings = resolveLogSettings(options.settings)
    this.now = options.now ?? Date.now
    this.topics = new TopicRegistry(this.storage, this.settings, this.now)
    this.groups = new GroupCoordinator({
      storage: this.storage,
      settings: this.settings,
      now: this.now,
      topicPartitions: async (names) => {
        const counts: Record<string, number> = {}
        for (const name of names) {
          const topic = await this.topics.get(name)
          if (topic) counts[name] = topic.partitions
        }
        return counts
      },
      listTopics: async () => (await this.topics.list()).map((t) => t.name),
      highWatermark: async (topic, partition) => {
        const record = await this.topics.get(topic)
        if (!record || partition >= record.partitions) return -1
        return (await this.partition(record, partition)).highWatermark
      },
    })
    this.transactions = localTransactionCoordinator({
      storage: this.storage, now: this.now, topics: this.topics, groups: this.groups,
      partition: (record, partition) => this.partition(record, partition),
      allocateProducerId: async () => (await this.allocateProducerId()).producerId,
      idExpirationMs: this.settings['transactional.id.expiration.ms'],
    })
    if (options.replicaProduce === 'outbox') {
      this.outbox = new Outbox({ storage: this.storage, topics: this.topics, now: this.now })
      this.syncView = new SyncView({ storage: this.storage, topics: this.topics, replicas: this.replicas, outbox: this.outbox })
    }
    this.unwatch = this.storage.watch?.((change) => this.onStorageChange(change))
    const interval = this.settings['log.retention.check.interval.ms']
    if (interval > 0) this.timers.push(unref(setInterval(() => { void this.runMaintenance({}).catch(() => {}) }, interval)))
    // Abandoned transactions hold back read_committed readers (the LSO): abort them when due.
    const txnInterval = options.transactionCleanupIntervalMs ?? 10_000
    if (txnInterval > 0) {
      this.timers.push(unref(setInterval(() => { if (this.transactions.hasWork) void this.transactions.expire().catch(() => {}) }, txnInterval)))
    }
  }

  async describeCluster(): Promise<ClusterInfo> {
    let clusterId = await this.storage.getMeta<string>(keys.clusterId)
    if (!clusterId) {
      clusterId = randomId()
      await this.storage.commit({ meta: [{ key: keys.clusterId, value: clusterId }] })
    }
    return { clusterId, brokers: [{ nodeId: 0, host: 'local', port: 0 }], controller: 0 }
  }

  async createTopics(req: { topics: TopicSpec[]; validateOnly?: boolean }) {
    this.assertOpen()
    return this.topics.createMany(req?.topics, req?.validateOnly ?? false)
  }

  async deleteTopics(req: { topics: string[] }): Promise<void> {
    this.assertOpen()
    if (!Array.isArray(req?.topics)) throw new EdgelogError('INVALID_REQUEST', 'topics must be an array')
    for (const name of req.topics) validateTopicName(name)
    for (const name of req.topics) await this.topics.lookup(name)
    for (const name of req.topics) {
      const record = await this.topics.delete(name)
      for (let p = 0; p < record.partitions; p++) {
        const key = streamId(record.topicId, p)
        const log = this.partitions.get(key)
        this.partitions.delete(key)
        this.opened.delete(key)
        if (log) (await log.catch(() => undefined))?.close()
      }
    }
  }

  async createPartitions(req: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<void> {
    this.assertOpen()
    if (!Array.isArray(req?.topicPartitions)) throw new EdgelogError('INVALID_REQUEST', 'topicPartitions must be an array')
    // Every entry is checked before any is applied: one bad entry changes nothing.
    const seen = new Set<string>()
    for (const entry of req.topicPartitions) {
      if (typeof entry !== 'object' || entry === null) throw new EdgelogError('INVALID_REQUEST', 'Each topicPartitions entry is { topic, count }')
      validatePartitionCount(entry.count, 'count')
      const record = await this.topics.lookup(entry.topic)
      if (seen.has(entry.topic)) throw new EdgelogError('INVALID_REQUEST', `Topic '${entry.topic}' is listed twice`)
      seen.add(entry.topic)
      if (entry.count <= record.partitions) {
        throw new EdgelogError('INVALID_PARTITIONS', `Topic '${entry.topic}' has ${record.partitions} partitions; the count can only increase (asked ${entry.count})`)
      }
    }
    for (const { topic, count } of req.topicPartitions) await this.topics.increasePartitions(topic, count)
  }

  async metadata(req: { topics?: string[]; allowAutoTopicCreation?: boolean } = {}): Promise<TopicMetadata[]> {
    this.assertOpen()
    const records = req.topics === undefined
      ? await this.topics.list()
      : await Promise.all(req.topics.map((t) => this.lookupForWrite(t, req.allowAutoTopicCreation ?? false)))
    return records.map(toMetadata)
  }

  async alterConfigs(req: { topic: string; configEntries: Array<{ name: string; value: string | null }> }): Promise<TopicConfig> {
    this.assertOpen()
    const record = await this.topics.alterConfig(req?.topic, req?.configEntries)
    this.configs.set(record.topicId, record.config)
    return record.config
  }

  async describePartitions(req: { topic: string }): Promise<PartitionState[]> {
    const record = await this.topics.lookup(req.topic)
    const states: PartitionState[] = []
    for (let p = 0; p < record.partitions; p++) {
      const { stream: _stream, ...state } = (await this.partition(record, p)).state()
      states.push(state)
    }
    return states
  }

  async produce(req: ProduceRequest): Promise<ProduceResult[]> {
    this.assertOpen()
    if (!req || !Array.isArray(req.entries)) throw new EdgelogError('INVALID_REQUEST', 'entries must be an array')
    if (req.acks !== -1 && req.acks !== 0 && req.acks !== 1) {
      throw new EdgelogError('INVALID_REQUIRED_ACKS', `acks must be -1, 0 or 1, got ${JSON.stringify(req.acks)}`)
    }
    const durability = req.acks === -1 ? 'strict' : 'relaxed'
    // Entries of one partition are handed to its log together and in order, so that it checks
    // them in that order and commits them as one write (group commit).
    const results: ProduceResult[] = new Array(req.entries.length)
    await Promise.all(groupEntriesByPartition(req.entries).map(async (indexes) => {
      const first = req.entries[indexes[0]]
      let log: PartitionLog
      let record: TopicRecord
      try {
        record = await this.lookupForWrite(first?.topic, true)
        validatePartitionIndex(first.partition, record)
        if (record.replica) {
          if (!this.outbox) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Topic '${record.name}' is a replica of ${record.replica.source}: produce there`)
          await this.produceToOutbox(req, indexes, record, durability, results)
          return
        }
        if (validatesSchemas(record.config)) {
          const batches = indexes.map((i) => req.entries[i].batch).filter((b): b is Uint8Array => b instanceof Uint8Array)
          await (this.schemaValidator ??= new SchemaValidator(this)).check(record.name, record.config, batches)
        }
        log = await this.partition(record, first.partition)
      } catch (error) {
        for (const i of indexes) results[i] = this.produceError(req.entries[i], error)
        return
      }
      // Transactional batches are checked against their transaction first (all of them, so the
      // appends below still reach the log together and in request order).
      const refused: unknown[] = []
      const releases: Array<() => void> = []
      for (const [n, i] of indexes.entries()) {
        const verifying = verifyTransactional(this.transactions, req.entries[i].batch, record.name, first.partition)
        if (verifying) await verifying.then((release) => { releases.push(release) }, (error) => { refused[n] = error })
      }
      const appends = indexes.map((i, n) => {
        const batch = req.entries[i].batch
        if (refused[n] !== undefined) return Promise.reject(refused[n])
        return batch instanceof Uint8Array
          ? log.append(batch, { durability })
          : Promise.reject(new EdgelogError('CORRUPT_MESSAGE', 'batch must be a Uint8Array of Kafka record batch bytes'))
      })
      const settled = await Promise.allSettled(appends)
      for (const release of releases) release()
      settled.forEach((s, n) => {
        const entry = req.entries[indexes[n]]
        results[indexes[n]] = s.status === 'fulfilled'
          ? { topic: entry.topic, partition: entry.partition, errorCode: 0, baseOffset: s.value.baseOffset, logAppendTime: s.value.logAppendTime, logStartOffset: log.logStartOffset }
          : this.produceError(entry, s.reason)
      })
    }))
    return results
  }

  /**
   * The topic, auto-created when allowed — but never a topic this log follows: that one comes
   * from the leader (its id, its partitions), so before the first sync it is not there yet.
   */
  private async lookupForWrite(topic: string, autoCreate: boolean): Promise<TopicRecord> {
    const followed = autoCreate && this.options.isFollowed?.(topic)
    try {
      return await this.topics.lookup(topic, autoCreate && !followed)
    } catch (error) {
      if (followed && isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) {
        throw new EdgelogError('LEADER_NOT_AVAILABLE', `Topic '${topic}' is followed from its leader and has not been synced here yet: try again once online`)
      }
      throw error
    }
  }

  /** A replica topic's records wait in its outbox; answered with their place there (`pending`), not an offset. */
  private async produceToOutbox(req: ProduceRequest, indexes: number[], record: TopicRecord, durability: 'strict' | 'relaxed', results: ProduceResult[]): Promise<void> {
    const settled = await Promise.allSettled(indexes.map((i) => {
      const batch = req.entries[i].batch
      return batch instanceof Uint8Array
        ? this.outbox!.append(record, req.entries[i].partition, batch, durability)
        : Promise.reject(new EdgelogError('CORRUPT_MESSAGE', 'batch must be a Uint8Array of Kafka record batch bytes'))
    }))
    settled.forEach((s, n) => {
      const entry = req.entries[indexes[n]]
      results[indexes[n]] = s.status === 'fulfilled'
        ? { topic: entry.topic, partition: entry.partition, errorCode: 0, baseOffset: -1, logAppendTime: -1, logStartOffset: -1, pending: { outboxOffset: s.value.outboxOffset } }
        : this.produceError(entry, s.reason)
    })
  }

  private produceError(entry: ProduceRequest['entries'][number] | undefined, error: unknown): ProduceResult {
    if (!isEdgelogError(error)) throw error
    // A topic deleted by another context (or racing this request): forget what was cached.
    if (error.code === 'UNKNOWN_TOPIC_OR_PARTITION' && typeof entry?.topic === 'string') this.topics.invalidate(entry.topic)
    return {
      topic: entry?.topic as string, partition: entry?.partition as number, errorCode: error.errorCode,
      error: { code: error.code, message: error.message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1,
    }
  }

  async fetch(req: FetchRequest, options?: FetchOptions): Promise<FetchResult> {
    this.assertOpen()
    const record = await this.topics.lookup(req?.topic)
    validatePartitionIndex(req.partition, record)
    validateOffset(req.offset)
    validateMaxBytes(req.maxBytes)
    if (req.isolationLevel !== undefined && req.isolationLevel !== 0 && req.isolationLevel !== 1) {
      throw new EdgelogError('INVALID_REQUEST', `isolationLevel must be 0 (read_uncommitted) or 1 (read_committed), got ${JSON.stringify(req.isolationLevel)}`)
    }
    const isolation = req.isolationLevel === 1 ? 'read_committed' : 'read_uncommitted'
    const log = await this.partition(record, req.partition)
    let result = await log.read(req.offset, req.maxBytes, undefined, isolation)
    const maxWait = Math.min(Math.max(0, Number(req.maxWaitMs) || 0), MAX_FETCH_WAIT_MS)
    const minBytes = Math.max(1, Number(req.minBytes) || 1)
    if (maxWait > 0 && byteSize(result.batches) < minBytes) {
      await log.waitForData(req.offset, maxWait, minBytes, options?.signal, isolation)
      result = await log.read(req.offset, req.maxBytes, undefined, isolation)
    }
    const out: FetchResult = {
      topic: req.topic, topicId: record.topicId, partition: req.partition, highWatermark: result.highWatermark,
      logStartOffset: result.logStartOffset, batches: handOver(result.batches.map((b) => b.bytes), this.storage.capabilities.zeroCopyReads),
      lastStableOffset: result.lastStableOffset,
    }
    if (result.abortedTransactions) out.abortedTransactions = result.abortedTransactions.map((t) => ({ producerId: t.producerId, firstOffset: t.firstOffset }))
    return out
  }

  async listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec; isolationLevel?: 0 | 1 }): Promise<ListOffsetsResult[]> {
    this.assertOpen()
    const record = await this.topics.lookup(req?.topic)
    const spec = req.spec
    if (spec !== 'earliest' && spec !== 'latest' && !(typeof spec === 'object' && Number.isFinite(spec?.timestamp))) {
      throw new EdgelogError('INVALID_REQUEST', `spec must be 'earliest', 'latest' or { timestamp }`)
    }
    if (req.partitions !== undefined && !Array.isArray(req.partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array of partition numbers')
    const partitions = req.partitions ?? Array.from({ length: record.partitions }, (_, p) => p)
    for (const partition of partitions) validatePartitionIndex(partition, record)
    return Promise.all(partitions.map(async (partition) => {
      validatePartitionIndex(partition, record)
      const log = await this.partition(record, partition)
      // A read_committed reader starting at the end starts at the LSO: records of open transactions may still commit.
      if (spec === 'latest' && req.isolationLevel === 1) return { topic: req.topic, partition, offset: log.lastStableOffset, timestamp: -1 }
      const found = await log.offsetForTime(spec)
      return { topic: req.topic, partition, ...found }
    }))
  }

  async initProducerId(req: InitProducerIdRequest = {}): Promise<InitProducerIdResult> {
    this.assertOpen()
    if (req?.transactionalId !== undefined && req.transactionalId !== null) {
      return this.transactions.initProducerId({ ...req, transactionalId: req.transactionalId })
    }
    return this.allocateProducerId()
  }

  // transactions: the coordinator checks and answers (core/txn).
  async addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void> { this.assertOpen(); return this.transactions.addPartitionsToTxn(req) }
  async addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<void> { this.assertOpen(); return this.transactions.addOffsetsToTxn(req) }
  async txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void> { this.assertOpen(); return this.transactions.txnOffsetCommit(req) }
  async endTxn(req: TxnProducer & { committed: boolean }): Promise<void> { this.assertOpen(); return this.transactions.endTxn(req) }

  private async allocateProducerId(): Promise<InitProducerIdResult> {
    const allocate = async () => {
      const next = (await this.storage.getMeta<number>(keys.producerIds)) ?? 0
      await this.storage.commit({ meta: [{ key: keys.producerIds, value: next + 1 }], durability: 'strict' })
      return { producerId: next, producerEpoch: 0 }
    }
    return this.storage.capabilities.shared && this.storage.lock ? this.storage.lock(keys.producerIds, allocate) : this.serialised(allocate)
  }

  async runMaintenance(req: { topic?: string } = {}): Promise<void> {
    this.assertOpen()
    const records = req.topic ? [await this.topics.lookup(req.topic)] : await this.topics.list()
    for (const record of records) {
      for (let p = 0; p < record.partitions; p++) {
        await (await this.partition(record, p)).maintain({ forceCompaction: req.topic !== undefined })
      }
    }
    await this.groups.expire()
    await this.transactions.expire()
  }

  // groups: the coordinator validates and answers; the broker schedules its session checks.
  /** Kafka's DeleteRecords over each partition's PartitionLog.deleteRecordsBefore (Broker.deleteRecords). */
  async deleteRecords(req: { topic: string; partitions: Array<{ partition: number; offset: number }> }): Promise<DeleteRecordsResult[]> {
    this.assertOpen()
    const record = await this.topics.lookup(req?.topic)
    if (!Array.isArray(req.partitions)) throw new EdgelogError('INVALID_REQUEST', 'partitions must be an array of { partition, offset }')
    return Promise.all(req.partitions.map(async (entry) => {
      const partition = entry?.partition
      try {
        if (record.replica) throw new EdgelogError('NOT_LEADER_OR_FOLLOWER', `Topic '${record.name}' is a replica of ${record.replica.source}: delete records there`)
        validatePartitionIndex(partition, record)
        if (!hasDeletion(record.config)) {
          throw new EdgelogError('POLICY_VIOLATION', `Records of topic '${record.name}' cannot be deleted: its cleanup.policy is compact only`)
        }
        const offset = entry.offset
        if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < -1) {
          throw new EdgelogError('OFFSET_OUT_OF_RANGE', `offset must be -1 (the high watermark) or a non-negative integer, got ${JSON.stringify(offset)}`)
        }
        const log = await this.partition(record, partition)
        const { logStartOffset } = await log.deleteRecordsBefore(offset === -1 ? log.highWatermark : offset)
        return { topic: record.name, partition, lowWatermark: logStartOffset, errorCode: 0 }
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        return { topic: record.name, partition, lowWatermark: -1, errorCode: error.errorCode, error: { code: error.code, message: error.message } }
      }
    }))
  }

  async groupHeartbeat(req: GroupHeartbeatRequest) {
    this.assertOpen()
    const response = await this.groups.heartbeat(req)
    this.scheduleGroupExpiry()
    return response
  }
  async commitOffsets(req: Parameters<Broker['commitOffsets']>[0]) { this.assertOpen(); return this.groups.commitOffsets(req) }
  async fetchOffsets(req: Parameters<Broker['fetchOffsets']>[0]) { this.assertOpen(); return this.groups.fetchOffsets(req) }
  async describeGroups(req: Parameters<Broker['describeGroups']>[0]) { this.assertOpen(); return this.groups.describeGroups(req) }
  async listGroups() { this.assertOpen(); return this.groups.listGroups() }
  async deleteGroups(req: Parameters<Broker['deleteGroups']>[0]) { this.assertOpen(); return this.groups.deleteGroups(req) }
  async groupLag(req: Parameters<Broker['groupLag']>[0]) { this.assertOpen(); return this.groups.groupLag(req) }

  private synced(): SyncView {
    this.assertOpen()
    if (!this.syncView) throw new EdgelogError('INVALID_REQUEST', 'This log follows no leader (no sync configured)')
    return this.syncView
  }

  syncStatus() { return this.synced().status() }
  syncPending(req: { topic?: string } = {}) { return this.synced().pending(req?.topic) }
  syncDeadLetters() { return this.synced().deadLetters() }
  syncDelivered(req: { records: Array<{ topic: string; partition: number; outboxOffset: number }>; timeoutMs?: number }) {
    if (!Array.isArray(req?.records)) return Promise.reject(new EdgelogError('INVALID_REQUEST', 'records must be an array'))
    return this.synced().delivered(req.records, req.timeoutMs)
  }
  syncFlush(req: { timeoutMs?: number } = {}) { return this.synced().flush(req?.timeoutMs) }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const t of this.timers) clearInterval(t)
    if (this.groupTimer) clearTimeout(this.groupTimer)
    this.unwatch?.()
    for (const log of this.partitions.values()) (await log.catch(() => undefined))?.close()
    this.outbox?.close()
    await this.storage.close()
  }

  /** The partition's log, opened once and cached. */
  partition(record: TopicRecord, partition: number): Promise<PartitionLog> {
    const key = streamId(record.topicId, partition)
    if (this.opened.get(key)?.isClosed) {
      // It found its topic deleted: open again, which fails typed unless the topic is back.
      this.opened.delete(key)
      this.partitions.delete(key)
    }
    let log = this.partitions.get(key)
    this.configs.set(record.topicId, record.config)
    if (!log) {
      const { topicId, config } = record
      log = PartitionLog.open({
        storage: this.storage,
        stream: key,
        now: this.now,
        // Configs change (alterConfigs): the log reads the current one at each use.
        config: () => this.configs.get(topicId) ?? config,
        // Every commit of the log expects this topic record: never a write into a deleted topic.
        topicKey: keys.topic(record.name),
        producerIdExpirationMs: this.settings['producer.id.expiration.ms'],
      })
      this.partitions.set(key, log)
      const opening = log
      log.then((opened) => { if (this.partitions.get(key) === opening) this.opened.set(key, opened) }, () => {
        if (this.partitions.get(key) === opening) this.partitions.delete(key)
      })
    }
    return log
  }

  private scheduleGroupExpiry(): void {
    const deadline = this.groups.nextDeadline()
    if (deadline === undefined || this.closed) return
    if (this.groupTimer) clearTimeout(this.groupTimer)
    this.groupTimer = unref(setTimeout(() => {
      this.groupTimer = undefined
      void this.groups.expire().then(() => this.scheduleGroupExpiry(), () => {})
    }, Math.max(0, deadline - this.now()) + 5))
  }

  private onStorageChange(change: StorageChange): void {
    this.outbox?.onStorageChange(change)
    if (change.kind === 'append') {
      void this.partitions.get(change.stream)?.then((log) => log.observeAppend(change.nextOffset), () => {})
    } else if (change.key.startsWith(keys.topicPrefix)) {
      const name = change.key.slice(keys.topicPrefix.length)
      this.topics.invalidate(name)
      void this.topics.get(name).then((r) => { if (r) this.configs.set(r.topicId, r.config) }, () => {})
    }
  }

  private queue: Promise<unknown> = Promise.resolve()
  private serialised<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.queue.then(fn, fn)
    this.queue = result.catch(() => undefined)
    return result
  }

  private assertOpen(): void {
    if (this.closed) throw new EdgelogError('CLOSED', 'The log is closed')
  }
}

function toMetadata(record: TopicRecord): TopicMetadata {
  return {
    name: record.name,
    topicId: record.topicId,
    config: record.config,
    partitions: Array.from({ length: record.partitions }, (_, partitionId) => ({
      partitionId, leader: 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0,
    })),
  }
}

/**
 * Bytes leaving the broker belong to the reader (a KafkaJS user owns `message.value`, may
 * mutate or transfer it). A store that reads zero-copy gets one copy per fetch — one buffer
 * for all the batches, each batch a view of it — never a view of the store's own memory.
 */
function handOver(batches: Uint8Array[], zeroCopyStore: boolean | undefined): Uint8Array[] {
  if (!zeroCopyStore || batches.length === 0) return batches
  if (batches.length === 1) return [batches[0].slice()]
  const copy = concatBytes(batches)
  const views: Uint8Array[] = []
  let at = 0
  for (const b of batches) {
    views.push(copy.subarray(at, at + b.byteLength))
    at += b.byteLength
  }
  return views
}

function byteSize(batches: Array<{ bytes: Uint8Array }>): number {
  let n = 0
  for (const b of batches) n += b.bytes.byteLength
  return n
}

/** Lets Node exit while a timer is pending; other runtimes have no unref and need none. */
function unref<T>(timer: T): T {
  ;(timer as { unref?: () => void }).unref?.()
  return timer
}
