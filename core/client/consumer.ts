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
import { describe, parseOffset, toKafkaMessage, type KafkaMessage } from './messages.ts'
import { OffsetTracker } from './offset-tracker.ts'
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

interface PartitionReader {
  topic: string
  partition: number
  /** Next offset to fetch. */
  position: number
  /** Bumped by seek and revoke: a fetch started under an older one is discarded. */
  generation: number
  revoked: boolean
  /** Processing in progress (awaited on revoke, so that offsets are final before commit). */
  processing: Promise<void> | null
  highWatermark: number
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
  private connected = false
  private semaphore = new Semaphore(1)
  private lastCommit = Date.now()
  private readonly wakers = new Set<() => void>()

  constructor(private readonly broker: Broker, private readonly config: ConsumerConfig, private readonly clientId: string) {
    if (config.groupId !== undefined) assertGroupId(config.groupId)
  }

  on(event: string, listener: (e: any) => void): () => void { return this.emitter.on(event, listener) }

  async connect(): Promise<void> {
    this.connected = true
    this.emitter.emit(EVENTS.CONNECT, {})
  }

  async disconnect(): Promise<void> {
    await this.stop()
    this.connected = false
    this.emitter.emit(EVENTS.DISCONNECT, {})
  }

  async subscribe(subscription: { topics?: Array<string | RegExp>; topic?: string | RegExp; fromBeginning?: boolean }): Promise<void> {
    if (this.running) throw new EdgelogError('INVALID_REQUEST', 'Cannot subscribe while the consumer is running')
    const list = subscription?.topics ?? (subscription?.topic !== undefined ? [subscription.topic] : undefined)
    if (!Array.isArray(list) || list.length === 0) throw new EdgelogError('INVALID_REQUEST', 'subscribe takes { topics: [...] } with at least one topic')
    this.fromBeginning = subscription.fromBeginning ?? false
    for (const t of list) {
      if (t instanceof RegExp) this.patterns.push(t)
      else if (typeof t === 'string') {
        await this.broker.metadata({ topics: [t], allowAutoTopicCreation: this.config.allowAutoTopicCreation ?? true })
        this.topics.add(t)
      } else throw new EdgelogError('INVALID_TOPIC_EXCEPTION', `A subscription is a topic name or a RegExp, got ${describe(t)}`)
    }
  }

  async run(config: RunConfig = {}): Promise<void> {
    if (this.running) throw new EdgelogError('INVALID_REQUEST', 'The consumer is already running')
    if (!config.eachMessage && !config.eachBatch) throw new EdgelogError('INVALID_REQUEST', 'run takes eachMessage or eachBatch')
    if (this.topics.size === 0 && this.patterns.length === 0) throw new EdgelogError('INVALID_REQUEST', 'Subscribe to a topic before run')
    this.runConfig = { ...this.runConfig, ...config }
    this.semaphore = new Semaphore(Math.max(1, this.runConfig.partitionsConsumedConcurrently))
    this.running = true
    this.lastCommit = Date.now()
    if (this.config.groupId !== undefined) {
      this.member = new GroupMember(this.broker, {
        groupId: this.config.groupId,
        clientId: this.clientId,
        instanceId: this.config.groupInstanceId ?? null,
        rackId: this.config.rackId ?? null,
        sessionTimeoutMs: this.config.sessionTimeout ?? 30_000,
        rebalanceTimeoutMs: this.config.rebalanceTimeout ?? 60_000,
        heartbeatIntervalMs: this.config.heartbeatInterval ?? 3_000,
        assignors: (this.config.partitionAssigners ?? ['cooperative-sticky', 'range']).map((a) => (typeof a === 'string' ? a : a.name)),
        onRevoke: (tps) => this.revoke(tps, true),
        onAssign: (tps) => this.assign(tps),
        onHeartbeat: (r) => this.emitter.emit(EVENTS.HEARTBEAT, { groupId: this.config.groupId, memberId: r.memberId, memberEpoch: r.memberEpoch }),
        onJoin: (info) => this.emitter.emit(EVENTS.GROUP_JOIN, {
          groupId: this.config.groupId, memberId: info.memberId, leaderId: null, isLeader: false, memberAssignment: toRecord(info.assignment), groupProtocol: 'consumer',
        }),
        onError: (error) => this.crash(error),
      })
      this.member.subscribe([...this.topics], this.patterns.length > 0 ? combinePatterns([...this.topics], this.patterns) : null)
      await this.member.start()
    } else {
      const all: TopicPartitions[] = []
      for (const topic of await this.matchingTopics()) {
        const [meta] = await this.broker.metadata({ topics: [topic] })
        all.push({ topic, partitions: meta.partitions.map((p) => p.partitionId) })
      }
      await this.assign(all)
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return
    this.running = false
    this.wakeAll()
    if (this.member) await this.member.stop()
    else await this.revoke([...this.readers.values()].map((r) => ({ topic: r.topic, partitions: [r.partition] })), false)
    this.member = null
    this.emitter.emit(EVENTS.STOP, {})
  }

  /** Moves a partition's position; the committed offset moves too when the group commits next. */
  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }): void {
    const target = parseOffset(offset)
    if (target < 0) throw new EdgelogError('OFFSET_OUT_OF_RANGE', `Cannot seek to a negative offset (${offset})`)
    const reader = this.readers.get(tpKey(topic, partition))
    if (!reader) {
      this.pendingSeeks.set(tpKey(topic, partition), target)
      return
    }
    reader.position = target
    reader.generation++
    this.offsets.seek(topic, partition, target)
    this.wakeAll()
  }

  pause(topicPartitions: Array<{ topic: string; partitions?: number[] }>): void {
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
    for (const { topic, partitions } of topicPartitions) {
      const current = this.pausedTopics.get(topic)
      if (!partitions || current === undefined) this.pausedTopics.delete(topic)
      else if (current !== 'all') for (const p of partitions) current.delete(p)
      else if (partitions) {
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
    const parsed = offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: parseOffset(o.offset), metadata: o.metadata ?? null }))
    await this.broker.commitOffsets({ groupId: this.config.groupId, memberId: this.member?.memberId, memberEpoch: this.member?.memberEpoch, offsets: parsed })
    for (const o of parsed) this.offsets.committed(o.topic, o.partition, o.offset)
    this.emitter.emit(EVENTS.COMMIT_OFFSETS, { groupId: this.config.groupId, memberId: this.member?.memberId, topics: toCommitTopics(parsed) })
  }

  async describeGroup() {
    if (this.config.groupId === undefined) throw new EdgelogError('INVALID_GROUP_ID', 'No groupId')
    const [group] = await this.broker.describeGroups({ groupIds: [this.config.groupId] })
    return group
  }

  private wakeAll(): void {
    for (const wake of [...this.wakers]) wake()
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
    const committed = this.config.groupId !== undefined && tps.length > 0
      ? await this.broker.fetchOffsets({ groupId: this.config.groupId, topics: tps.map((t) => t.topic) })
      : []
    for (const { topic, partitions } of tps) {
      for (const partition of partitions) {
        const key = tpKey(topic, partition)
        const seek = this.pendingSeeks.get(key)
        this.pendingSeeks.delete(key)
        const c = committed.find((o) => o.topic === topic && o.partition === partition)
        const position = seek ?? (c && c.offset >= 0 ? c.offset : await this.resetPosition(topic, partition))
        const reader: PartitionReader = { topic, partition, position, generation: 0, revoked: false, processing: null, highWatermark: -1 }
        this.readers.set(key, reader)
        this.offsets.assign(topic, partition, c && c.offset >= 0 ? c.offset : -1)
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
        if (!reader) continue
        reader.revoked = true
        reader.generation++
        readers.push(reader)
      }
    }
    if (readers.length === 0) return
    this.emitter.emit(EVENTS.REBALANCING, { groupId: this.config.groupId, memberId: this.member?.memberId, revoked: tps })
    await Promise.all(readers.map((r) => r.processing?.catch(() => {})))
    if (commit && this.runConfig.autoCommit && this.config.groupId !== undefined) {
      await this.commitResolved(readers.map((r) => tpKey(r.topic, r.partition))).catch((e) => this.emitter.emit(EVENTS.CRASH, { error: e, groupId: this.config.groupId, restart: true }))
    }
    for (const r of readers) {
      this.readers.delete(tpKey(r.topic, r.partition))
      this.offsets.forget(r.topic, r.partition)
    }
  }

  private async resetPosition(topic: string, partition: number): Promise<number> {
    const policy = this.config.autoOffsetReset ?? (this.fromBeginning ? 'earliest' : 'latest')
    if (policy === 'none') throw new EdgelogError('OFFSET_OUT_OF_RANGE', `No committed offset for ${topic}/${partition} and autoOffsetReset is 'none'`)
    const [found] = await this.broker.listOffsets({ topic, partitions: [partition], spec: policy })
    return found.offset
  }

  private async readLoop(reader: PartitionReader): Promise<void> {
    let failures = 0
    while (this.running && !reader.revoked) {
      if (this.isPaused(reader.topic, reader.partition)) {
        await new Promise<void>((resolve) => {
          const done = () => { this.wakers.delete(done); clearTimeout(timer); resolve() }
          const timer = setTimeout(done, 1000)
          this.wakers.add(done)
        })
        continue
      }
      const generation = reader.generation
      try {
        this.emitter.emit(EVENTS.FETCH_START, { topic: reader.topic, partition: reader.partition })
        const result = await this.broker.fetch({
          topic: reader.topic, partition: reader.partition, offset: reader.position,
          maxBytes: this.config.maxBytesPerPartition ?? 1024 * 1024,
          maxWaitMs: this.config.maxWaitTimeInMs ?? 5000, minBytes: this.config.minBytes ?? 1,
        })
        if (generation !== reader.generation || reader.revoked || !this.running) continue
        reader.highWatermark = result.highWatermark
        this.emitter.emit(EVENTS.FETCH, { numberOfBatches: result.batches.length, topic: reader.topic, partition: reader.partition })
        if (result.batches.length === 0) continue
        const { messages, nextOffset } = await decodeFetched(result.batches, reader.position)
        if (messages.length > 0) {
          const done = this.semaphore.run(() => this.processBatch(reader, messages, generation))
          reader.processing = done
          await done
          reader.processing = null
        }
        if (generation === reader.generation) reader.position = Math.max(reader.position, nextOffset)
        failures = 0
      } catch (error) {
        reader.processing = null
        if (isEdgelogError(error, 'OFFSET_OUT_OF_RANGE') && this.config.autoOffsetReset !== 'none') {
          reader.position = await this.resetPosition(reader.topic, reader.partition).catch(() => reader.position)
          continue
        }
        failures++
        // The user's handler failing is retried (the message is read again); so are retriable broker errors.
        const retriable = (error as { fromHandler?: boolean })?.fromHandler === true || (isEdgelogError(error) && error.retriable)
        if (!retriable || failures > (this.config.retry?.retries ?? 5)) {
          this.crash(error)
          return
        }
        const wait = Math.min(30_000, (this.config.retry?.initialRetryTime ?? 300) * 2 ** (failures - 1))
        await new Promise((r) => setTimeout(r, wait))
      }
    }
  }

  /** Hands a batch to the user's code; resolves offsets as messages are processed. */
  private async processBatch(reader: PartitionReader, messages: KafkaMessage[], generation: number): Promise<void> {
    const { topic, partition } = reader
    const isStale = () => generation !== reader.generation || reader.revoked
    const pause = () => { this.pause([{ topic, partitions: [partition] }]); return () => this.resume([{ topic, partitions: [partition] }]) }
    const heartbeat = async () => { await this.member?.heartbeat() }
    this.emitter.emit(EVENTS.START_BATCH_PROCESS, { topic, partition, batchSize: messages.length })
    try {
      if (this.runConfig.eachBatch) {
        const batch = makeBatch(topic, partition, reader.highWatermark, messages)
        await this.runConfig.eachBatch({
          batch,
          resolveOffset: (offset) => {
            const n = parseOffset(offset)
            this.offsets.resolve(topic, partition, n)
            if (generation === reader.generation) reader.position = Math.max(reader.position, n + 1)
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
        if (this.runConfig.eachBatchAutoResolve && !isStale()) this.offsets.resolve(topic, partition, Number(batch.lastOffset()))
      } else {
        for (const message of messages) {
          if (!this.running || isStale() || this.isPaused(topic, partition)) break
          try {
            await this.runConfig.eachMessage!({ topic, partition, message, heartbeat, pause })
          } catch (error) {
            // Not resolved: the message is read again (at least once); the failure counts toward retries.
            const offset = Number(message.offset)
            if (generation === reader.generation) reader.position = offset
            reader.generation++
            throw Object.assign(error instanceof Error ? error : new Error(String(error)), { fromHandler: true })
          }
          const offset = Number(message.offset)
          this.offsets.resolve(topic, partition, offset)
          if (generation === reader.generation) reader.position = offset + 1
          await this.maybeCommit(false)
        }
      }
    } finally {
      this.emitter.emit(EVENTS.END_BATCH_PROCESS, { topic, partition, batchSize: messages.length })
    }
    await this.maybeCommit(false)
  }

  /** autoCommit: after autoCommitInterval ms or autoCommitThreshold messages (each batch when neither is set). */
  private async maybeCommit(force: boolean): Promise<void> {
    if (this.config.groupId === undefined || (!this.runConfig.autoCommit && !force)) return
    const interval = this.runConfig.autoCommitInterval ?? null
    const threshold = this.runConfig.autoCommitThreshold ?? null
    const due = force || (interval === null && threshold === null) ||
      (interval !== null && Date.now() - this.lastCommit >= interval) ||
      (threshold !== null && this.offsets.resolvedSinceCommit() >= threshold)
    if (!due) return
    await this.commitResolved()
  }

  private async commitResolved(only?: string[]): Promise<void> {
    const pending = this.offsets.pendingCommits(only)
    this.lastCommit = Date.now()
    if (pending.length === 0) return
    await this.commitOffsets(pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: String(p.offset) })))
  }

  private crash(error: unknown): void {
    if (!this.running) return
    this.emitter.emit(EVENTS.CRASH, { error, groupId: this.config.groupId, restart: false })
    void this.stop()
  }
}

async function decodeFetched(batches: Uint8Array[], from: number): Promise<{ messages: KafkaMessage[]; nextOffset: number }> {
  const messages: KafkaMessage[] = []
  let nextOffset = from
  for (const bytes of batches) {
    const header = readBatchHeader(bytes)
    const records = header.compression === 'none' ? decodeRecords(bytes, header) : (await decodeBatch(bytes)).records
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
