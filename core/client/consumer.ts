/**
 * The KafkaJS-shaped consumer. With a `groupId` it joins a consumer group (GroupMember) and
 * reads the partitions the coordinator gives it, resuming from committed offsets; without
 * one it reads every partition of its subscriptions (seek to choose where). One fetch loop
 * per owned partition long-polls the broker; batches are handed to `eachBatch`/`eachMessage`
 * one at a time (or `partitionsConsumedConcurrently` at a time), in offset order.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, TopicPartitions } from '../broker.ts'
import { decodeBatch, decodeRecords, readBatchHeader } from '../codec/record-batch.ts'
import { Emitter } from './events.ts'
import { GroupMember, assertGroupId, tpKey } from './group-member.ts'
import { describe, parseOffset, recordBytesView, toKafkaMessage, type KafkaMessage } from './messages.ts'
import { OffsetTracker, type OffsetEntry } from './offset-tracker.ts'
import type { RetryOptions } from './retry.ts'
import { Semaphore } from './semaphore.ts'

export interface ConsumerConfig {
  groupId?: string
  groupInstanceId?: string
  partitionAssigners?: Array<string | { name: string }>
  sessionTimeout?: number
  rebalanceTimeout?: number
  heartbeatInterval?: number
  maxBytesPerPartition?: number
  minBytes?: number
  maxBytes?: number
  maxWaitTimeInMs?: number
  retry?: RetryOptions & { restartOnFailure?: (e: Error) => Promise<boolean> }
  allowAutoTopicCreation?: boolean
  rackId?: string
  /** Where to start without a committed offset; overrides `fromBeginning`. 'none': OFFSET_OUT_OF_RANGE. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none'
}

export interface Batch {
  topic: string
  partition: number
  highWatermark: string
  messages: KafkaMessage[]
  isEmpty(): boolean
  firstOffset(): string | null
  lastOffset(): string
  offsetLag(): string
  offsetLagLow(): string
}

export interface EachMessagePayload {
  topic: string
  partition: number
  message: KafkaMessage
  heartbeat(): Promise<void>
  pause(): () => void
}

export interface EachBatchPayload {
  batch: Batch
  resolveOffset(offset: string): void
  heartbeat(): Promise<void>
  pause(): () => void
  commitOffsetsIfNecessary(offsets?: Array<{ topic: string; partition: number; offset: string }>): Promise<void>
  uncommittedOffsets(): { topics: Array<{ topic: string; partitions: Array<{ partition: string; offset: string }> }> }
  isRunning(): boolean
  isStale(): boolean
}

export interface RunConfig {
  eachMessage?: (payload: EachMessagePayload) => Promise<void>
  eachBatch?: (payload: EachBatchPayload) => Promise<void>
  autoCommit?: boolean
  autoCommitInterval?: number | null
  autoCommitThreshold?: number | null
  eachBatchAutoResolve?: boolean
  partitionsConsumedConcurrently?: number
}

export const PartitionAssigners = { range: 'range', roundRobin: 'roundrobin', cooperativeSticky: 'cooperative-sticky' } as const

const EVENTS = {
  HEARTBEAT: 'consumer.heartbeat', COMMIT_OFFSETS: 'consumer.commit_offsets', GROUP_JOIN: 'consumer.group_join',
  FETCH_START: 'consumer.fetch_start', FETCH: 'consumer.fetch', START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process', CONNECT: 'consumer.connect', DISCONNECT: 'consumer.disconnect',
  STOP: 'consumer.stop', CRASH: 'consumer.crash', REBALANCING: 'consumer.rebalancing',
  RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics', REQUEST: 'consumer.network.request',
} as const

/** The position after OFFSET_OUT_OF_RANGE: autoOffsetReset decides, not the group. */
const RESET_BY_POLICY = -2

interface PartitionReader {
  topic: string
  partition: number
  /** Next offset to fetch; -1 until known (the committed offset, else autoOffsetReset); RESET_BY_POLICY after OFFSET_OUT_OF_RANGE. */
  position: number
  /** Bumped by seek and revoke: work started under an older one is stale. */
  generation: number
  /** Bumped by seek alone: an offset processed before a seek is not resolved after it. */
  seeks: number
  revoked: boolean
  /** Processing in progress (awaited on revoke, so that offsets are final before commit). */
  processing: Promise<unknown> | null
  highWatermark: number
  /** Set by revoke: resolves once the reader is torn down (its offsets committed or dropped). */
  stopped?: Promise<void>
}

/** A failure of the user's handler (retried: the message is read again). */
class HandlerError {
  constructor(readonly error: unknown) {}
}

export class Consumer {
  readonly events = EVENTS
  private readonly emitter = new Emitter()
  private readonly topics = new Set<string>()
  private readonly patterns: RegExp[] = []
  private fromBeginning = false
  private readonly readers = new Map<string, PartitionReader>()
  private readonly pendingSeeks = new Map<string, number>()
  private readonly pausedTopics = new Map<string, Set<number> | 'all'>()
  private readonly offsets = new OffsetTracker()
  private member: GroupMember | null = null
  private runConfig: Required<Pick<RunConfig, 'autoCommit' | 'eachBatchAutoResolve' | 'partitionsConsumedConcurrently'>> & RunConfig = {
    autoCommit: true, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1,
  }
  private running = false
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  private semaphore = new Semaphore(1)
  private lastCommit = Date.now()
  private readonly wakers = new Set<() => void>()

  constructor(private readonly broker: Broker, private readonly config: ConsumerConfig, private readonly clientId: string) {
    if (config.groupId !== undefined) assertGroupId(config.groupId)
  }

  on(event: string, listener: (e: any) => void): () => void { return this.emitter.on(event, listener) }

  async connect(): Promise<void> {
    this.emitter.emit(EVENTS.CONNECT, {})
  }

  async disconnect(): Promise<void> {
    await this.stop()
    this.emitter.emit(EVENTS.DISCONNECT, {})
  }

  async subscribe(subscription: { topics?: Array<string | RegExp>; topic?: string | RegExp; fromBeginning?: boolean }): Promise<void> {
    if (this.running) throw new EdgelogError('INVALID_REQUEST', 'Cannot subscribe while the consumer is running')
    const list = subscription?.topics ?? (subscription?.topic !== undefined ? [subscription.topic] : undefined)
    if (!Array.isArray(list) || list.length === 0) throw new EdgelogError('INVALID_REQUEST', 'subscribe takes { topics: [...] } with at least one topic')
    for (const t of list) {
      if (!(t instanceof RegExp) && typeof t !== 'string') {
        throw new EdgelogError('INVALID_TOPIC_EXCEPTION', `A subscription is a topic name or a RegExp, got ${describe(t)}`)
      }
    }
    // Every name is checked (and auto-created where allowed) before the subscription changes.
    const names = list.filter((t): t is string => typeof t === 'string')
    for (const t of names) await this.broker.metadata({ topics: [t], allowAutoTopicCreation: this.config.allowAutoTopicCreation ?? true })
    this.fromBeginning = subscription.fromBeginning ?? false
    for (const t of list) {
      if (t instanceof RegExp) this.patterns.push(t)
      else this.topics.add(t)
    }
  }

  async run(config: RunConfig = {}): Promise<void> {
    if (this.running || this.starting) throw new EdgelogError('INVALID_REQUEST', 'The consumer is already running')
    if (typeof config?.eachMessage !== 'function' && typeof config?.eachBatch !== 'function') {
      throw new EdgelogError('INVALID_REQUEST', 'run takes eachMessage or eachBatch')
    }
    if (this.topics.size === 0 && this.patterns.length === 0) throw new EdgelogError('INVALID_REQUEST', 'Subscribe to a topic before run')
    await this.stopping
    this.runConfig = { autoCommit: true, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1, ...config }
    this.semaphore = new Semaphore(Math.max(1, this.runConfig.partitionsConsumedConcurrently))
    this.running = true
    this.lastCommit = Date.now()
    this.starting = this.start()
    try {
      await this.starting
    } catch (error) {
      this.running = false
      this.member = null
      this.dropReaders([...this.readers.values()])
      throw error
    } finally {
      this.starting = null
    }
  }

  private async start(): Promise<void> {
    if (this.config.groupId === undefined) {
      const all: TopicPartitions[] = []
      for (const topic of await this.matchingTopics()) {
        const [meta] = await this.broker.metadata({ topics: [topic] })
        all.push({ topic, partitions: meta.partitions.map((p) => p.partitionId) })
      }
      await this.assign(all)
      return
    }
    const groupId = this.config.groupId
    const member = new GroupMember(this.broker, {
      groupId,
      clientId: this.clientId,
      instanceId: this.config.groupInstanceId ?? null,
      rackId: this.config.rackId ?? null,
      sessionTimeoutMs: this.config.sessionTimeout ?? 30_000,
      rebalanceTimeoutMs: this.config.rebalanceTimeout ?? 60_000,
      heartbeatIntervalMs: this.config.heartbeatInterval ?? 3_000,
      assignors: (this.config.partitionAssigners ?? ['cooperative-sticky', 'range', 'roundrobin']).map((a) => (typeof a === 'string' ? a : a?.name)),
      onRevoke: (tps) => this.revoke(tps, true),
      onLost: (tps) => this.revoke(tps, false),
      onAssign: (tps) => this.assign(tps),
      onHeartbeat: (r) => this.emitter.emit(EVENTS.HEARTBEAT, { groupId, memberId: r.memberId, groupGenerationId: r.memberEpoch }),
      onRebalance: (info) => this.emitter.emit(EVENTS.REBALANCING, { groupId, memberId: info.memberId }),
      onJoin: (info) => this.emitter.emit(EVENTS.GROUP_JOIN, {
        groupId, memberId: info.memberId, leaderId: null, isLeader: false, memberAssignment: toRecord(info.assignment),
        groupProtocol: this.assignorInUse, groupGenerationId: info.memberEpoch, duration: 0,
      }),
      onError: (error) => this.crash(error),
    })
    this.member = member
    member.subscribe([...this.topics], this.patterns.length > 0 ? combinePatterns([...this.topics], this.patterns) : null)
    await member.start()
  }

  /** The first assignor the consumer asked for (what the group uses unless others disagree). */
  private get assignorInUse(): string {
    const first = this.config.partitionAssigners?.[0]
    return (typeof first === 'string' ? first : first?.name) ?? 'cooperative-sticky'
  }

  async stop(): Promise<void> {
    if (this.stopping) return this.stopping
    if (!this.running) return
    this.stopping = this.doStop().finally(() => { this.stopping = null })
    return this.stopping
  }

  private async doStop(): Promise<void> {
    await this.starting?.catch(() => {})
    this.running = false
    this.wakeAll()
    // A group member revokes (finishes processing, commits) and leaves; a plain reader just stops.
    if (this.member) await this.member.stop()
    this.member = null
    this.dropReaders([...this.readers.values()])
    this.emitter.emit(EVENTS.STOP, {})
  }

  private dropReaders(readers: PartitionReader[]): void {
    for (const r of readers) {
      r.revoked = true
      r.generation++
      this.readers.delete(tpKey(r.topic, r.partition))
      this.offsets.forget(r.topic, r.partition)
    }
    this.wakeAll()
    // Loops parked in a long poll see `revoked` when it answers and end without processing.
  }

  /**
   * Moves a partition's position (the next offset to read). With autoCommit on, the group's
   * committed offset moves there too (as KafkaJS's seek commits). A partition not owned yet
   * starts there when it is assigned.
   */
  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }): void {
    if (typeof topic !== 'string' || !Number.isInteger(partition) || partition < 0) {
      throw new EdgelogError('INVALID_REQUEST', `seek takes { topic, partition, offset }, got ${describe(topic)}/${describe(partition)}`)
    }
    const target = parseOffset(offset)
    if (target < 0) throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Cannot seek to a negative offset (${offset})`)
    const reader = this.readers.get(tpKey(topic, partition))
    if (!reader) {
      this.pendingSeeks.set(tpKey(topic, partition), target)
      return
    }
    reader.position = target
    reader.generation++
    reader.seeks++
    if (this.runConfig.autoCommit) this.offsets.seek(topic, partition, target)
    this.wakeAll()
  }

  pause(topicPartitions: Array<{ topic: string; partitions?: number[] }>): void {
    assertTopicPartitions(topicPartitions, 'pause')
    for (const { topic, partitions } of topicPartitions) {
      if (!partitions) this.pausedTopics.set(topic, 'all')
      else {
        const current = this.pausedTopics.get(topic)
        if (current === 'all') continue
        const set = current ?? new Set<number>()
        for (const p of partitions) set.add(p)
        this.pausedTopics.set(topic, set)
      }
    }
  }

  resume(topicPartitions: Array<{ topic: string; partitions?: number[] }>): void {
    assertTopicPartitions(topicPartitions, 'resume')
    for (const { topic, partitions } of topicPartitions) {
      const current = this.pausedTopics.get(topic)
      if (!partitions || current === undefined) this.pausedTopics.delete(topic)
      else if (current !== 'all') {
        for (const p of partitions) current.delete(p)
        if (current.size === 0) this.pausedTopics.delete(topic)
      } else {
        // Resuming some partitions of a wholly paused topic: pause the rest explicitly.
        const set = new Set<number>()
        for (const r of this.readers.values()) if (r.topic === topic && !partitions.includes(r.partition)) set.add(r.partition)
        this.pausedTopics.set(topic, set)
      }
    }
    this.wakeAll()
  }

  paused(): Array<{ topic: string; partitions: number[] }> {
    const result: Array<{ topic: string; partitions: number[] }> = []
    for (const [topic, set] of this.pausedTopics) {
      const partitions = set === 'all'
        ? [...this.readers.values()].filter((r) => r.topic === topic).map((r) => r.partition)
        : [...set]
      if (partitions.length > 0) result.push({ topic, partitions: partitions.sort((a, b) => a - b) })
    }
    return result
  }

  /** Commits the given offsets (the next offset to read, as Kafka commits). */
  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string; metadata?: string | null }>): Promise<void> {
    if (this.config.groupId === undefined) throw new EdgelogError('INVALID_GROUP_ID', 'A consumer without a groupId has no offsets to commit')
    if (!Array.isArray(offsets)) throw new EdgelogError('INVALID_REQUEST', 'commitOffsets takes [{ topic, partition, offset }]')
    const parsed = offsets.map((o) => ({ topic: o?.topic, partition: o?.partition, offset: parseOffset(o?.offset), metadata: o?.metadata ?? null }))
    if (parsed.length === 0) return
    const member = this.member
    let sentEpoch = -1
    const commit = () => {
      sentEpoch = member?.memberEpoch ?? -1
      return this.broker.commitOffsets({
        groupId: this.config.groupId!,
        ...(member && member.memberId ? { memberId: member.memberId, memberEpoch: member.memberEpoch } : {}),
        offsets: parsed,
      })
    }
    try {
      await commit()
    } catch (error) {
      // A heartbeat moved the member to a newer epoch while the commit was on its way (the
      // coordinator still checks that the member holds the partitions): once more, up to date.
      if (!member || !(isEdgelogError(error, 'ILLEGAL_GENERATION') || isEdgelogError(error, 'FENCED_MEMBER_EPOCH'))) throw error
      if (member.memberEpoch === sentEpoch) await member.heartbeat().catch(() => {})
      if (member.memberEpoch === sentEpoch || member.memberEpoch <= 0) throw error
      await commit()
    }
    for (const o of parsed) this.offsets.committed(o.topic, o.partition, o.offset)
    this.lastCommit = Date.now()
    this.emitter.emit(EVENTS.COMMIT_OFFSETS, { groupId: this.config.groupId, memberId: member?.memberId, groupGenerationId: member?.memberEpoch, topics: toCommitTopics(parsed) })
  }

  async describeGroup() {
    if (this.config.groupId === undefined) throw new EdgelogError('INVALID_GROUP_ID', 'No groupId')
    const [group] = await this.broker.describeGroups({ groupIds: [this.config.groupId] })
    return group
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake()
  }

  /** Waits `ms`, or less when woken (resume, seek, stop). */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => { this.wakers.delete(done); clearTimeout(timer); resolve() }
      const timer = setTimeout(done, ms)
      this.wakers.add(done)
    })
  }

  private isPaused(topic: string, partition: number): boolean {
    const p = this.pausedTopics.get(topic)
    return p === 'all' || (p !== undefined && p.has(partition))
  }

  private async matchingTopics(): Promise<string[]> {
    const names = new Set(this.topics)
    if (this.patterns.length > 0) {
      for (const t of await this.broker.metadata({})) if (this.patterns.some((re) => re.test(t.name))) names.add(t.name)
    }
    return [...names]
  }

  private async assign(tps: TopicPartitions[]): Promise<void> {
    let committed: Array<{ topic: string; partition: number; offset: number }> = []
    if (this.config.groupId !== undefined && tps.length > 0) {
      try {
        committed = await this.broker.fetchOffsets({ groupId: this.config.groupId, topics: tps.map((t) => t.topic) })
      } catch (error) {
        // The partitions are ours: their loops find their start on their own (and fail there, typed).
        if (!isEdgelogError(error) || !error.retriable) this.crash(error)
      }
    }
    for (const { topic, partitions } of tps) {
      for (const partition of partitions) {
        const key = tpKey(topic, partition)
        const existing = this.readers.get(key)
        // A reader still being torn down (revoked, then given back) finishes first; a live one stays.
        if (existing?.revoked) await existing.stopped
        else if (existing) continue
        const seek = this.pendingSeeks.get(key)
        this.pendingSeeks.delete(key)
        const c = committed.find((o) => o.topic === topic && o.partition === partition)
        const committedOffset = c && c.offset >= 0 ? c.offset : -1
        const reader: PartitionReader = {
          topic, partition, position: seek ?? committedOffset, generation: 0, seeks: 0, revoked: false, processing: null, highWatermark: -1,
        }
        this.readers.set(key, reader)
        this.offsets.assign(topic, partition, committedOffset)
        if (seek !== undefined && this.runConfig.autoCommit) this.offsets.seek(topic, partition, seek)
        void this.readLoop(reader)
      }
    }
  }

  /** Stops reading the partitions; their processing finishes and, if asked, offsets are committed. */
  private async revoke(tps: TopicPartitions[], commit: boolean): Promise<void> {
    const readers: PartitionReader[] = []
    for (const { topic, partitions } of tps) {
      for (const partition of partitions) {
        const reader = this.readers.get(tpKey(topic, partition))
        if (!reader || reader.revoked) continue
        reader.revoked = true
        reader.generation++
        readers.push(reader)
      }
    }
    if (readers.length === 0) return
    let stopped!: () => void
    const done = new Promise<void>((resolve) => { stopped = resolve })
    for (const r of readers) r.stopped = done
    this.wakeAll()
    await Promise.all(readers.map((r) => r.processing?.catch(() => {})))
    if (commit && this.runConfig.autoCommit && this.config.groupId !== undefined) {
      await this.commitResolved(readers.map((r) => tpKey(r.topic, r.partition))).catch(() => {
        // The group moved on (fenced) or the log is gone: the next owner reads from the last commit.
      })
    }
    for (const r of readers) {
      if (this.readers.get(tpKey(r.topic, r.partition)) === r) this.readers.delete(tpKey(r.topic, r.partition))
      this.offsets.forget(r.topic, r.partition)
    }
    stopped()
  }

  private async committedOffset(topic: string, partition: number): Promise<number> {
    if (this.config.groupId === undefined) return -1
    const offsets = await this.broker.fetchOffsets({ groupId: this.config.groupId, topics: [topic] })
    return offsets.find((o) => o.topic === topic && o.partition === partition)?.offset ?? -1
  }

  private async resetPosition(topic: string, partition: number): Promise<number> {
    const policy = this.config.autoOffsetReset ?? (this.fromBeginning ? 'earliest' : 'latest')
    if (policy === 'none') throw new EdgelogError('OFFSET_OUT_OF_RANGE', `No valid committed offset for ${topic}-${partition} and autoOffsetReset is 'none'`)
    const [found] = await this.broker.listOffsets({ topic, partitions: [partition], spec: policy })
    return found.offset
  }

  private async readLoop(reader: PartitionReader): Promise<void> {
    let failures = 0
    const live = () => this.running && !reader.revoked
    while (live()) {
      if (this.isPaused(reader.topic, reader.partition)) {
        await this.sleep(1000)
        continue
      }
      const generation = reader.generation
      try {
        if (reader.position < 0) {
          // Start where the group committed (assign may have failed to ask), else where autoOffsetReset says.
          const committed = reader.position === RESET_BY_POLICY ? -1 : await this.committedOffset(reader.topic, reader.partition)
          const position = committed >= 0 ? committed : await this.resetPosition(reader.topic, reader.partition)
          if (generation === reader.generation) {
            reader.position = position
            if (committed >= 0) this.offsets.assign(reader.topic, reader.partition, committed)
            else this.offsets.reset(reader.topic, reader.partition, position)
          }
          continue
        }
        const from = reader.position
        this.emitter.emit(EVENTS.FETCH_START, { topic: reader.topic, partition: reader.partition })
        const started = Date.now()
        const result = await this.broker.fetch({
          topic: reader.topic, partition: reader.partition, offset: from,
          maxBytes: this.config.maxBytesPerPartition ?? 1024 * 1024,
          maxWaitMs: this.config.maxWaitTimeInMs ?? 5000, minBytes: this.config.minBytes ?? 1,
        })
        if (generation !== reader.generation || !live()) continue
        reader.highWatermark = result.highWatermark
        this.emitter.emit(EVENTS.FETCH, { numberOfBatches: result.batches.length, duration: Date.now() - started, topic: reader.topic, partition: reader.partition })
        if (result.batches.length === 0) {
          failures = 0
          continue
        }
        const { messages, nextOffset } = await decodeFetched(result.batches, from)
        if (generation !== reader.generation || !live()) continue
        // Out of its session, the member may no longer own this partition: hand nothing over.
        if (this.member && !this.member.checkSession()) continue
        let next = nextOffset
        if (messages.length > 0) {
          const done = this.semaphore.run(() => this.processBatch(reader, messages, generation, from, nextOffset))
          reader.processing = done
          try {
            next = await done
          } finally {
            reader.processing = null
          }
        }
        if (generation === reader.generation) reader.position = Math.max(from, next)
        failures = 0
      } catch (caught) {
        if (!live()) return
        const fromHandler = caught instanceof HandlerError
        const error = fromHandler ? caught.error : caught
        if (!fromHandler && isEdgelogError(error, 'OFFSET_OUT_OF_RANGE') && reader.position >= 0 && this.config.autoOffsetReset !== 'none' && failures === 0) {
          // The position fell out of the log (retention): start again where autoOffsetReset says.
          failures++
          if (generation === reader.generation) reader.position = RESET_BY_POLICY
          continue
        }
        failures++
        // The user's handler failing is retried (the message is read again); so are retriable broker errors.
        const retriable = fromHandler || (isEdgelogError(error) && error.retriable)
        if (!retriable || failures > (this.config.retry?.retries ?? 5)) {
          this.crash(error)
          return
        }
        const base = this.config.retry?.initialRetryTime ?? 300
        await this.sleep(Math.min(this.config.retry?.maxRetryTime ?? 30_000, base * (this.config.retry?.multiplier ?? 2) ** (failures - 1)))
      }
    }
  }

  /**
   * Hands a batch to the user's code; resolves offsets as messages are processed. Returns the
   * next offset to read: past the batch, or where processing stopped (pause, seek, revoke).
   */
  private async processBatch(reader: PartitionReader, messages: KafkaMessage[], generation: number, from: number, nextOffset: number): Promise<number> {
    const { topic, partition } = reader
    const seeks = reader.seeks
    const isStale = () => generation !== reader.generation || reader.revoked
    const seeked = () => seeks !== reader.seeks
    if (!this.running || isStale()) return from
    const pause = () => { this.pause([{ topic, partitions: [partition] }]); return () => this.resume([{ topic, partitions: [partition] }]) }
    const heartbeat = async () => { await this.member?.heartbeat() }
    const batch = makeBatch(topic, partition, reader.highWatermark, messages)
    const info = {
      topic, partition, highWatermark: batch.highWatermark, offsetLag: batch.offsetLag(), offsetLagLow: batch.offsetLagLow(),
      batchSize: messages.length, firstOffset: batch.firstOffset(), lastOffset: batch.lastOffset(),
    }
    const startedAt = Date.now()
    this.emitter.emit(EVENTS.START_BATCH_PROCESS, info)
    let next = from
    if (this.runConfig.eachBatch) {
      let resolved = -1
      try {
        await this.runConfig.eachBatch({
          batch,
          resolveOffset: (offset) => {
            const n = parseOffset(offset)
            if (seeked()) return
            this.offsets.resolve(topic, partition, n)
            resolved = Math.max(resolved, n)
          },
          heartbeat, pause,
          commitOffsetsIfNecessary: async (offsets) => {
            if (offsets) await this.commitOffsets(offsets)
            else await this.maybeCommit(true)
          },
          uncommittedOffsets: () => this.offsets.uncommitted(),
          isRunning: () => this.running,
          isStale,
        })
      } catch (error) {
        if (!seeked()) reader.position = resolved >= 0 ? resolved + 1 : from
        await this.autoCommit().catch(() => {})
        throw new HandlerError(error)
      }
      if (this.runConfig.eachBatchAutoResolve && !seeked()) {
        this.offsets.resolve(topic, partition, Number(batch.lastOffset()))
        next = nextOffset
      } else {
        next = resolved >= 0 ? resolved + 1 : from
      }
    } else {
      let completed = true
      const eachMessage = this.runConfig.eachMessage!
      const entry: OffsetEntry | undefined = this.offsets.entry(topic, partition)
      // Commits inside a batch only for autoCommitInterval / autoCommitThreshold (KafkaJS's commitOffsetsIfNecessary).
      const commitWithin = this.config.groupId !== undefined && this.runConfig.autoCommit &&
        (this.runConfig.autoCommitInterval != null || this.runConfig.autoCommitThreshold != null)
      for (const message of messages) {
        if (!this.running || isStale() || (this.pausedTopics.size > 0 && this.isPaused(topic, partition))) {
          completed = false
          break
        }
        const offset = Number(message.offset)
        try {
          await eachMessage({ topic, partition, message, heartbeat, pause })
        } catch (error) {
          // Not resolved: the message is read again (at least once). What was processed is committed.
          if (!seeked()) reader.position = offset
          await this.autoCommit().catch(() => {})
          throw new HandlerError(error)
        }
        if (seeked()) {
          completed = false
          break
        }
        if (entry) OffsetTracker.resolveEntry(entry, offset)
        next = offset + 1
        if (commitWithin) await this.maybeCommit(false)
      }
      if (completed) next = nextOffset
    }
    this.emitter.emit(EVENTS.END_BATCH_PROCESS, { ...info, duration: Date.now() - startedAt })
    await this.autoCommit()
    return next
  }

  /** autoCommit after a batch (and before a failed message is retried): everything resolved. */
  private async autoCommit(): Promise<void> {
    if (this.config.groupId === undefined || !this.runConfig.autoCommit) return
    await this.commitResolved().catch((error) => this.commitFailed(error))
  }

  /**
   * An automatic commit that failed because the member is out of the group (or the group moved
   * on) is not a crash: the heartbeat finds out and rejoins, and what was not committed is read
   * again by the partition's owner (at least once). A retriable failure is retried with the
   * next commit. Anything else is the consumer's end.
   */
  private commitFailed(error: unknown): void {
    const group = ['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_MEMBER_EPOCH', 'REBALANCE_IN_PROGRESS', 'GROUP_ID_NOT_FOUND'] as const
    if (isEdgelogError(error) && (error.retriable || group.some((code) => error.code === code))) {
      void this.member?.heartbeat().catch(() => {})
      return
    }
    throw error
  }

  /**
   * Commits what was resolved when autoCommitInterval ms passed or autoCommitThreshold
   * offsets were resolved since the last commit; `explicit` (commitOffsetsIfNecessary()):
   * also when neither is set.
   */
  private async maybeCommit(explicit: boolean): Promise<void> {
    if (this.config.groupId === undefined || (!this.runConfig.autoCommit && !explicit)) return
    const interval = this.runConfig.autoCommitInterval ?? null
    const threshold = this.runConfig.autoCommitThreshold ?? null
    const due = (explicit && interval === null && threshold === null) ||
      (interval !== null && Date.now() - this.lastCommit >= interval) ||
      (threshold !== null && this.offsets.resolvedSinceCommit() >= threshold)
    if (!due) return
    if (explicit) await this.commitResolved()
    else await this.commitResolved().catch((error) => this.commitFailed(error))
  }

  private async commitResolved(only?: string[]): Promise<void> {
    const pending = this.offsets.pendingCommits(only)
    if (pending.length === 0) {
      this.lastCommit = Date.now()
      return
    }
    await this.commitOffsets(pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })))
  }

  private crash(error: unknown): void {
    if (!this.running || this.stopping) return
    const groupId = this.config.groupId
    const runConfig = this.runConfig
    void (async () => {
      await this.stop()
      const restartOnFailure = this.config.retry?.restartOnFailure
      const restart = restartOnFailure ? await restartOnFailure(error as Error).catch(() => false) : false
      this.emitter.emit(EVENTS.CRASH, { error, groupId, restart })
      if (restart) {
        setTimeout(() => {
          this.run(runConfig).catch((e) => this.emitter.emit(EVENTS.CRASH, { error: e, groupId, restart: false }))
        }, this.config.retry?.initialRetryTime ?? 300)
      }
    })()
  }
}

function assertTopicPartitions(tps: unknown, what: string): asserts tps is Array<{ topic: string; partitions?: number[] }> {
  if (!Array.isArray(tps) || tps.some((t) => !t || typeof t.topic !== 'string' || (t.partitions !== undefined && !Array.isArray(t.partitions)))) {
    throw new EdgelogError('INVALID_REQUEST', `${what} takes [{ topic, partitions? }]`)
  }
}

async function decodeFetched(batches: Uint8Array[], from: number): Promise<{ messages: KafkaMessage[]; nextOffset: number }> {
  const messages: KafkaMessage[] = []
  let nextOffset = from
  for (const bytes of batches) {
    const header = readBatchHeader(bytes)
    const records = header.compression === 'none' ? decodeRecords(bytes, header, recordBytesView) : (await decodeBatch(bytes, recordBytesView)).records
    for (const record of records) if (record.offset >= from) messages.push(toKafkaMessage(record))
    nextOffset = Math.max(nextOffset, header.baseOffset + header.lastOffsetDelta + 1)
  }
  return { messages, nextOffset }
}

function makeBatch(topic: string, partition: number, highWatermark: number, messages: KafkaMessage[]): Batch {
  const last = messages.length > 0 ? messages[messages.length - 1].offset : String(highWatermark - 1)
  return {
    topic, partition, highWatermark: String(highWatermark), messages,
    isEmpty: () => messages.length === 0,
    firstOffset: () => (messages.length > 0 ? messages[0].offset : null),
    lastOffset: () => last,
    offsetLag: () => String(Math.max(0, highWatermark - 1 - Number(last))),
    offsetLagLow: () => String(Math.max(0, highWatermark - 1 - Number(messages[0]?.offset ?? last))),
  }
}

function combinePatterns(names: string[], patterns: RegExp[]): string {
  const escaped = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return [...escaped.map((e) => `^${e}$`), ...patterns.map((p) => `(?:${p.source})`)].join('|')
}

function toRecord(tps: TopicPartitions[]): Record<string, number[]> {
  return Object.fromEntries(tps.map((t) => [t.topic, t.partitions]))
}

function toCommitTopics(offsets: Array<{ topic: string; partition: number; offset: number }>) {
  const byTopic = new Map<string, Array<{ partition: string; offset: string }>>()
  for (const o of offsets) {
    let list = byTopic.get(o.topic)
    if (!list) byTopic.set(o.topic, (list = []))
    list.push({ partition: String(o.partition), offset: String(o.offset) })
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }))
}
