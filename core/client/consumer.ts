/**
 * The KafkaJS-shaped consumer. With a `groupId` it joins a consumer group (GroupMember) and
 * reads the partitions the coordinator gives it, resuming from committed offsets; without
 * one it reads every partition of its subscriptions (seek to choose where). One fetch loop
 * per owned partition long-polls the broker (consumer/partition-reader.ts); batches are handed
 * to `eachBatch`/`eachMessage` one at a time (or `partitionsConsumedConcurrently` at a time),
 * in offset order (consumer/batch-processor.ts); consumer/commit-policy.ts says when offsets
 * are committed. This file is the public class: subscription, run and stop, seek and pause,
 * and the partitions coming and going.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, TopicPartitions } from '../broker.ts'
import { Emitter } from './events.ts'
import { GroupMember, assertGroupId, newMemberId, tpKey } from './group-member.ts'
import { describe, parseOffset, type RecordBytes } from './messages.ts'
import { OffsetTracker } from './offset-tracker.ts'
import { Semaphore } from './semaphore.ts'
import { CONSUMER_EVENTS as EVENTS, RUN_DEFAULTS, type ConsumerConfig, type RunConfig } from './consumer/api.ts'
import { commitOffsets, commitResolved } from './consumer/commit-policy.ts'
import { abortReader, ASK_THE_GROUP, newPartitionReader, readLoop, RESET_BY_POLICY, type PartitionReader } from './consumer/partition-reader.ts'
import { PausedPartitions } from './consumer/paused-partitions.ts'
import type { ConsumerRuntime } from './consumer/runtime.ts'
import { Wakeups } from './consumer/wakeups.ts'
import { createLogger, type Logger } from './consumer/logger.ts'
import { Admin } from './admin.ts'

export { PartitionAssigners } from './consumer/api.ts'
export type { Batch, ConsumerConfig, EachBatchPayload, EachMessagePayload, Offsets, OffsetsByTopicPartition, RunConfig } from './consumer/api.ts'
export { logLevel, type Logger } from './consumer/logger.ts'

export class Consumer<V = RecordBytes, K = RecordBytes> {
  readonly events = EVENTS
  private readonly emitter = new Emitter()
  private readonly topics = new Set<string>()
  private readonly patterns: RegExp[] = []
  private readonly readers = new Map<string, PartitionReader>()
  private readonly pendingSeeks = new Map<string, number>()
  private readonly rt: ConsumerRuntime
  /** This consumer's member id in its group, the same for every run (KIP-1082; see group-member.ts). */
  private readonly memberId = newMemberId()
  private starting: Promise<void> | null = null
  private stopping: Promise<void> | null = null
  /** A restart after a crash, waiting for its delay (cleared by stop, disconnect and run). */
  private restartTimer: ReturnType<typeof setTimeout> | undefined
  /** Bumped by the user's stop, disconnect and run: a crash's restart decided before one of them is dropped. */
  private lifecycle = 0
  private log: Logger | undefined

  constructor(private readonly broker: Broker, private readonly config: ConsumerConfig<V, K>, private readonly clientId: string) {
    if (config.groupId !== undefined) assertGroupId(config.groupId)
    this.rt = {
      broker, config, emitter: this.emitter, offsets: new OffsetTracker(), paused: new PausedPartitions(), wakeups: new Wakeups(),
      member: null, fromBeginning: false, runConfig: { ...RUN_DEFAULTS }, running: false, semaphore: new Semaphore(1),
      lastCommit: Date.now(),
      crash: (error) => this.crash(error),
      pause: (tps) => this.pause(tps),
      resume: (tps) => this.resume(tps),
    }
  }

  on(event: string, listener: (e: any) => void): () => void { return this.emitter.on(event, listener) }

  async connect(): Promise<void> {
    this.emitter.emit(EVENTS.CONNECT, {})
  }

  /** Stops (processing finishes, offsets are committed, the member leaves) and releases every timer and request. */
  async disconnect(): Promise<void> {
    await this.stop()
    this.emitter.emit(EVENTS.DISCONNECT, {})
  }

  async subscribe(subscription: { topics?: Array<string | RegExp>; topic?: string | RegExp; fromBeginning?: boolean }): Promise<void> {
    if (this.rt.running) throw new EdgelogError('INVALID_REQUEST', 'Cannot subscribe while the consumer is running')
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
    this.rt.fromBeginning = subscription.fromBeginning ?? false
    for (const t of list) {
      if (t instanceof RegExp) this.patterns.push(t)
      else this.topics.add(t)
    }
  }

  async run(config: RunConfig<V, K> = {}): Promise<void> {
    this.cancelRestart()
    // The handlers take what the deserializers make; inside, messages are handled untyped.
    return this.startRun(config as unknown as RunConfig)
  }

  private async startRun(config: RunConfig): Promise<void> {
    const rt = this.rt
    if (rt.running || this.starting) throw new EdgelogError('INVALID_REQUEST', 'The consumer is already running')
    if (typeof config?.eachMessage !== 'function' && typeof config?.eachBatch !== 'function') {
      throw new EdgelogError('INVALID_REQUEST', 'run takes eachMessage or eachBatch')
    }
    if (this.topics.size === 0 && this.patterns.length === 0) throw new EdgelogError('INVALID_REQUEST', 'Subscribe to a topic before run')
    await this.stopping
    rt.runConfig = { ...RUN_DEFAULTS, ...config }
    rt.semaphore = new Semaphore(Math.max(1, rt.runConfig.partitionsConsumedConcurrently))
    rt.running = true
    rt.lastCommit = Date.now()
    this.starting = this.start()
    try {
      await this.starting
    } catch (error) {
      rt.running = false
      rt.member = null
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
      memberId: this.memberId,
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
    this.rt.member = member
    member.subscribe([...this.topics], this.patterns.length > 0 ? combinePatterns([...this.topics], this.patterns) : null)
    await member.start()
  }

  /** The first assignor the consumer asked for (what the group uses unless others disagree). */
  private get assignorInUse(): string {
    const first = this.config.partitionAssigners?.[0]
    return (typeof first === 'string' ? first : first?.name) ?? 'cooperative-sticky'
  }

  async stop(): Promise<void> {
    this.cancelRestart()
    return this.halt()
  }

  private cancelRestart(): void {
    this.lifecycle++
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer)
    this.restartTimer = undefined
  }

  private halt(): Promise<void> {
    if (this.stopping) return this.stopping
    if (!this.rt.running) return Promise.resolve()
    this.stopping = this.doStop().finally(() => { this.stopping = null })
    return this.stopping
  }

  private async doStop(): Promise<void> {
    this.rt.running = false
    this.rt.wakeups.wakeAll()
    // Parked long polls end now (their results would be dropped anyway): no socket or broker
    // timer outlives the stop. Processing in progress finishes and is committed below.
    for (const r of this.readers.values()) abortReader(r)
    await this.starting?.catch(() => {})
    this.rt.wakeups.wakeAll()
    // A group member revokes (finishes processing, commits) and leaves; a plain reader just stops.
    if (this.rt.member) await this.rt.member.stop()
    this.rt.member = null
    this.dropReaders([...this.readers.values()])
    this.emitter.emit(EVENTS.STOP, {})
  }

  private dropReaders(readers: PartitionReader[]): void {
    for (const r of readers) {
      r.revoked = true
      r.generation++
      abortReader(r)
      this.readers.delete(tpKey(r.topic, r.partition))
      this.rt.offsets.forget(r.topic, r.partition)
    }
    this.rt.wakeups.wakeAll()
    // Loops parked in a long poll are aborted: they see `revoked` and end without processing.
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
    if (this.rt.runConfig.autoCommit) this.rt.offsets.seek(topic, partition, target)
    this.rt.wakeups.wakeAll()
  }

  pause(topicPartitions: Array<{ topic: string; partitions?: number[] }>): void {
    this.rt.paused.pause(topicPartitions)
  }

  resume(topicPartitions: Array<{ topic: string; partitions?: number[] }>): void {
    this.rt.paused.resume(topicPartitions, (topic) => this.ownedPartitions(topic))
    this.rt.wakeups.wakeAll()
  }

  paused(): Array<{ topic: string; partitions: number[] }> {
    return this.rt.paused.list((topic) => this.ownedPartitions(topic))
  }

  private ownedPartitions(topic: string): number[] {
    return [...this.readers.values()].filter((r) => r.topic === topic).map((r) => r.partition)
  }

  /** Commits the given offsets (the next offset to read, as Kafka commits). */
  async commitOffsets(offsets: Array<{ topic: string; partition: number; offset: string; metadata?: string | null }>): Promise<void> {
    return commitOffsets(this.rt, offsets)
  }

  /** KafkaJS's GroupDescription: groupId, state, protocol, protocolType, errorCode, members (assignment decoded, as admin.describeGroups). */
  async describeGroup() {
    if (this.config.groupId === undefined) throw new EdgelogError('INVALID_GROUP_ID', 'No groupId')
    const { groups: [group] } = await new Admin(this.broker).describeGroups([this.config.groupId])
    return group
  }

  /** KafkaJS's consumer.logger(): a Logger namespaced 'Consumer'. */
  logger(): Logger {
    return (this.log ??= createLogger('Consumer'))
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
    // Known when the group answered (or there is no group): a partition without a commit then
    // starts where autoOffsetReset says, without asking the group again.
    let known = this.config.groupId === undefined
    if (this.config.groupId !== undefined && tps.length > 0) {
      try {
        committed = await this.broker.fetchOffsets({ groupId: this.config.groupId, topics: tps.map((t) => t.topic), requireStable: !this.config.readUncommitted })
        known = true
      } catch (error) {
        // The partitions are ours: their loops find their start on their own (and fail there, typed).
        if (!isEdgelogError(error) || !error.retriable) this.crash(error)
      }
    }
    for (const { topic, partitions } of tps) {
      for (const partition of partitions) {
        const key = tpKey(topic, partition)
        let existing = this.readers.get(key)
        // A reader still being torn down (revoked, then given back) finishes first; a live one stays.
        if (existing?.revoked) {
          await existing.stopped
          existing = this.readers.get(key)
          if (existing && !existing.revoked) continue
        } else if (existing) continue
        // Lost while this assignment was on its way (fenced, session lapsed, stopped): a reader
        // now would read a partition the member no longer owns, and nothing would ever stop it.
        if (!this.rt.running || (this.rt.member !== null && !this.rt.member.owns(topic, partition))) continue
        const seek = this.pendingSeeks.get(key)
        this.pendingSeeks.delete(key)
        const c = committed.find((o) => o.topic === topic && o.partition === partition)
        const committedOffset = c && c.offset >= 0 ? c.offset : -1
        const start = committedOffset >= 0 ? committedOffset : known ? RESET_BY_POLICY : ASK_THE_GROUP
        const reader = newPartitionReader(topic, partition, seek ?? start)
        this.readers.set(key, reader)
        this.rt.offsets.assign(topic, partition, committedOffset)
        if (seek !== undefined && this.rt.runConfig.autoCommit) this.rt.offsets.seek(topic, partition, seek)
        void readLoop(this.rt, reader)
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
        abortReader(reader)
        readers.push(reader)
      }
    }
    if (readers.length === 0) return
    let stopped!: () => void
    const done = new Promise<void>((resolve) => { stopped = resolve })
    for (const r of readers) r.stopped = done
    this.rt.wakeups.wakeAll()
    await Promise.all(readers.map((r) => r.processing?.catch(() => {})))
    if (commit && this.rt.runConfig.autoCommit && this.config.groupId !== undefined) {
      await commitResolved(this.rt, readers.map((r) => tpKey(r.topic, r.partition))).catch(() => {
        // The group moved on (fenced) or the log is gone: the next owner reads from the last commit.
      })
    }
    for (const r of readers) {
      if (this.readers.get(tpKey(r.topic, r.partition)) === r) this.readers.delete(tpKey(r.topic, r.partition))
      this.rt.offsets.forget(r.topic, r.partition)
    }
    stopped()
  }

  /**
   * Ends the run on an error it cannot get past, and restarts it after `retry.initialRetryTime`
   * when `retry.restartOnFailure(error)` says so — by default (as KafkaJS) when the error is a
   * retriable one of the broker's (the server restarting, the network down for longer than the
   * retries): a consumer does not stay stopped for good because the log was away for a while.
   */
  private crash(error: unknown): void {
    if (!this.rt.running || this.stopping) return
    const runConfig = this.rt.runConfig
    const lifecycle = this.lifecycle
    void this.halt().then(() => this.afterCrash(error, runConfig, lifecycle))
  }

  private async afterCrash(error: unknown, runConfig: RunConfig, lifecycle: number): Promise<void> {
    const groupId = this.config.groupId
    const restartOnFailure = this.config.retry?.restartOnFailure
    const restart = restartOnFailure
      ? await restartOnFailure(error as Error).catch(() => false)
      : isEdgelogError(error) && error.retriable
    // The user stopped, disconnected or ran again meanwhile: that decides, not this crash.
    const restarting = restart && lifecycle === this.lifecycle
    this.emitter.emit(EVENTS.CRASH, { error, groupId, restart: restarting })
    if (!restarting) return
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined
      if (lifecycle !== this.lifecycle) return
      // A restart that fails (the log still away) is a crash of its own: restarted again if retriable.
      this.startRun(runConfig).catch((e) => this.afterCrash(e, runConfig, lifecycle))
    }, this.config.retry?.initialRetryTime ?? 300)
  }
}

function combinePatterns(names: string[], patterns: RegExp[]): string {
  const escaped = names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return [...escaped.map((e) => `^${e}$`), ...patterns.map((p) => `(?:${p.source})`)].join('|')
}

function toRecord(tps: TopicPartitions[]): Record<string, number[]> {
  return Object.fromEntries(tps.map((t) => [t.topic, t.partitions]))
}
