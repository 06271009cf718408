/**
 * A follower keeps local replicas of a leader's topics current, as a Kafka follower fetches
 * from its partition leader: one fetch loop per partition from the replica's own high
 * watermark (so a restart resumes where storage says, with nothing to checkpoint), long polls
 * while caught up, the leader's batches appended byte for byte at their offsets.
 *
 * - The leader's retention passed the replica (OFFSET_OUT_OF_RANGE below the leader's log
 *   start): the replica is emptied and restarts at the leader's log start ('replica.reset').
 * - The topic was deleted and created again at the leader (another topic id): that topic stops
 *   with INCONSISTENT_TOPIC_ID ('replica.stopped'); the replica keeps what it has.
 * - Partitions added at the leader, and new topics matching a pattern, are found by the next
 *   discovery (every `discoveryIntervalMs`) and followed too.
 * - Retriable failures (network, restarts) mark the follower offline and retry with backoff;
 *   others (a refused token) pause it with the error and retry slowly, so that replacing the
 *   token resumes it.
 *
 * Runtime-agnostic: the leader is any Broker (edgelog/http for the edge), the replicas any
 * LocalBroker's (memory, IndexedDB in the browser's worker).
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, TopicMetadata } from '../broker.ts'
import type { ReplicaTarget, ReplicaPartitionStatus } from '../log/replicas.ts'

export interface FollowerOptions {
  leader: Broker
  replicas: ReplicaTarget
  /** Names the leader (its URL): kept with each replica topic, shown in errors. */
  source: string
  /** Topic names or patterns to follow. */
  topics: Array<string | RegExp>
  /** Long-poll wait at the leader when caught up (default 10 s). */
  maxWaitMs?: number
  /** Bytes per fetch (default 1 MiB). */
  maxBytes?: number
  /** How often the leader's topics are listed again (new topics, added partitions, ids); default 30 s. */
  discoveryIntervalMs?: number
  /** Durability of replica writes (default relaxed: a replica can always fetch again). */
  durability?: 'strict' | 'relaxed'
}

export type FollowerEvent =
  | { type: 'online' }
  | { type: 'offline'; error: EdgelogError }
  | { type: 'paused'; error: EdgelogError }
  | { type: 'replica.reset'; topic: string; partition: number; from: number; to: number }
  | { type: 'replica.stopped'; topic: string; error: EdgelogError }
  | { type: 'replica.synced'; topic: string; partition: number; highWatermark: number; leaderHighWatermark: number }

export interface FollowerStatus {
  state: 'online' | 'offline' | 'paused' | 'stopped' | 'starting'
  error?: { code: string; message: string }
  lastSyncAt: number
  topics: Array<{ topic: string; topicId: string; stopped?: { code: string; message: string }; partitions: ReplicaPartitionStatus[] }>
}

interface Followed { topic: string; topicId: string; partitions: number; stopped?: EdgelogError }

const INITIAL_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 1_000
const PAUSED_BACKOFF_MS = 5_000

export class Follower {
  private readonly followed = new Map<string, Followed>()
  private readonly loops = new Map<string, Promise<void>>()
  private readonly listeners = new Set<(event: FollowerEvent) => void>()
  private readonly abort = new AbortController()
  private state: FollowerStatus['state'] = 'starting'
  private lastError: EdgelogError | undefined
  private lastSyncAt = -1
  private discovery: Promise<void> | undefined
  private discoveryTimer: ReturnType<typeof setTimeout> | undefined
  private readonly sleepers = new Set<() => void>()

  constructor(private readonly options: FollowerOptions) {}

  on(listener: (event: FollowerEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** Starts following; resolves after the first discovery (replica topics exist locally then). */
  async start(): Promise<void> {
    await this.discover()
  }

  /** Tries again now (back online, token replaced) instead of after the current backoff. */
  wake(): void {
    for (const wake of [...this.sleepers]) wake()
  }

  async stop(): Promise<void> {
    this.state = 'stopped'
    this.abort.abort()
    if (this.discoveryTimer) clearTimeout(this.discoveryTimer)
    for (const wake of this.sleepers) wake()
    await Promise.allSettled([this.discovery, ...this.loops.values()])
  }

  /** The state and last error, without reading storage. */
  get brief(): { state: FollowerStatus['state']; error?: { code: string; message: string } } {
    return { state: this.state, error: this.lastError && { code: this.lastError.code, message: this.lastError.message } }
  }

  async status(): Promise<FollowerStatus> {
    const topics = await Promise.all([...this.followed.values()].map(async (f) => ({
      topic: f.topic, topicId: f.topicId,
      stopped: f.stopped ? { code: f.stopped.code, message: f.stopped.message } : undefined,
      partitions: await this.options.replicas.status(f.topic).catch(() => []),
    })))
    return { state: this.state, error: this.lastError && { code: this.lastError.code, message: this.lastError.message }, lastSyncAt: this.lastSyncAt, topics }
  }

  /** Resolves once every followed partition holds what its leader had when this was called. */
  async caughtUp(timeoutMs = 60_000): Promise<void> {
    const targets = new Map<string, number>()
    for (const f of this.followed.values()) {
      if (f.stopped) continue
      const offsets = await this.options.leader.listOffsets({ topic: f.topic, partitions: Array.from({ length: f.partitions }, (_, p) => p), spec: 'latest' })
      for (const o of offsets) targets.set(`${f.topic}/${o.partition}`, o.offset)
    }
    const deadline = Date.now() + timeoutMs
    for (;;) {
      let behind = 0
      for (const f of this.followed.values()) {
        if (f.stopped) continue
        for (const s of await this.options.replicas.status(f.topic)) behind += Math.max(0, (targets.get(`${f.topic}/${s.partition}`) ?? 0) - s.highWatermark)
      }
      if (behind === 0) return
      if (Date.now() > deadline || this.state === 'stopped') throw new EdgelogError('REQUEST_TIMED_OUT', `The replicas are still ${behind} records behind their leader`)
      await this.sleep(20)
    }
  }

  private get stopped(): boolean { return this.state === 'stopped' }

  private emit(event: FollowerEvent): void {
    for (const l of this.listeners) {
      try { l(event) } catch { /* a listener's failure is its own */ }
    }
  }

  private setState(state: 'online' | 'offline' | 'paused', error?: EdgelogError): void {
    if (this.stopped) return
    const changed = state !== this.state
    this.state = state
    this.lastError = error
    if (!changed) return
    if (state === 'online') this.emit({ type: 'online' })
    else this.emit({ type: state, error: error! })
  }

  private matches(name: string): boolean {
    return this.options.topics.some((t) => (typeof t === 'string' ? t === name : t.test(name)))
  }

  /** Lists the leader's topics, creates or grows their replicas, and starts a loop per new partition. */
  private discover(): Promise<void> {
    this.discovery ??= (async () => {
      try {
        const named = this.options.topics.filter((t): t is string => typeof t === 'string')
        const patterns = this.options.topics.some((t) => typeof t !== 'string')
        const topics = patterns ? await this.options.leader.metadata({}) : await this.leaderTopics(named)
        for (const meta of topics) if (this.matches(meta.name)) await this.follow(meta)
        this.setState('online')
      } catch (error) {
        this.failed(error)
      } finally {
        this.discovery = undefined
        if (!this.stopped) this.discoveryTimer = setTimeout(() => void this.discover(), this.options.discoveryIntervalMs ?? 30_000)
      }
    })()
    return this.discovery
  }

  /** Named topics one by one: one missing at the leader does not hide the others. */
  private async leaderTopics(names: string[]): Promise<TopicMetadata[]> {
    const found: TopicMetadata[] = []
    for (const name of names) {
      try {
        found.push(...await this.options.leader.metadata({ topics: [name], allowAutoTopicCreation: false }))
      } catch (error) {
        if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) throw error
      }
    }
    return found
  }

  private async follow(meta: TopicMetadata): Promise<void> {
    const known = this.followed.get(meta.name)
    if (known?.stopped) return
    if (known && known.topicId !== meta.topicId) {
      this.stopTopic(known, new EdgelogError('INCONSISTENT_TOPIC_ID', `Topic '${meta.name}' at ${this.options.source} was deleted and created again (id ${known.topicId} is now ${meta.topicId}); its replica stops here`))
      return
    }
    let record
    try {
      record = await this.options.replicas.ensureTopic({ name: meta.name, topicId: meta.topicId, partitions: meta.partitions.length, config: meta.config }, this.options.source)
    } catch (error) {
      if (!isEdgelogError(error, 'INCONSISTENT_TOPIC_ID')) throw error
      const f: Followed = { topic: meta.name, topicId: meta.topicId, partitions: meta.partitions.length }
      this.followed.set(meta.name, f)
      this.stopTopic(f, error)
      return
    }
    const f = known ?? { topic: meta.name, topicId: meta.topicId, partitions: 0 }
    this.followed.set(meta.name, f)
    for (let p = f.partitions; p < record.partitions; p++) {
      const key = `${meta.name}/${p}`
      if (!this.loops.has(key)) this.loops.set(key, this.fetchLoop(f, p))
    }
    f.partitions = record.partitions
  }

  private stopTopic(f: Followed, error: EdgelogError): void {
    if (f.stopped) return
    f.stopped = error
    this.emit({ type: 'replica.stopped', topic: f.topic, error })
  }

  private async fetchLoop(f: Followed, partition: number): Promise<void> {
    const { leader, replicas } = this.options
    let position: number | undefined
    let backoff = INITIAL_BACKOFF_MS
    while (!this.stopped && !f.stopped) {
      try {
        // Where the replica ends, read (again) from storage: at the start and after a failed append.
        position ??= (await replicas.status(f.topic))[partition]?.highWatermark ?? 0
        const answer = await leader.fetch(
          { topic: f.topic, partition, offset: position, maxBytes: this.options.maxBytes ?? 1 << 20, maxWaitMs: this.options.maxWaitMs ?? 10_000 },
          { signal: this.abort.signal },
        )
        if (this.stopped || f.stopped) return
        if (answer.topicId !== undefined && answer.topicId !== f.topicId) {
          this.stopTopic(f, new EdgelogError('INCONSISTENT_TOPIC_ID', `Topic '${f.topic}' at ${this.options.source} now has id ${answer.topicId}, the replica follows ${f.topicId}`))
          return
        }
        const { highWatermark } = await replicas.append({
          topic: f.topic, topicId: f.topicId, partition, batches: answer.batches,
          logStartOffset: answer.logStartOffset, highWatermark: answer.highWatermark, durability: this.options.durability,
        })
        // Nothing more to take, though the leader is ahead (its records there were compacted away): wait rather than spin.
        if (highWatermark === position && answer.batches.length > 0) await this.sleep(backoff)
        position = highWatermark
        backoff = INITIAL_BACKOFF_MS
        this.lastSyncAt = Date.now()
        this.setState('online')
        this.emit({ type: 'replica.synced', topic: f.topic, partition, highWatermark: position, leaderHighWatermark: answer.highWatermark })
      } catch (error) {
        if (this.stopped || f.stopped) return
        if (isEdgelogError(error, 'OFFSET_OUT_OF_RANGE') && position !== undefined) {
          try {
            position = await this.outOfRange(f, partition, position)
            continue
          } catch (inner) {
            error = inner
          }
        }
        // Where the replica ends is read again from storage: a failed append may have been applied.
        position = undefined
        if (isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION') || isEdgelogError(error, 'INCONSISTENT_TOPIC_ID')) {
          await this.discover()
          if (f.stopped) return
        }
        this.failed(error)
        await this.sleep(this.state === 'paused' ? PAUSED_BACKOFF_MS : backoff)
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
      }
    }
  }

  /** Where to go on when the leader no longer has the replica's position. */
  private async outOfRange(f: Followed, partition: number, position: number): Promise<number> {
    const [[earliest], [latest]] = await Promise.all([
      this.options.leader.listOffsets({ topic: f.topic, partitions: [partition], spec: 'earliest' }),
      this.options.leader.listOffsets({ topic: f.topic, partitions: [partition], spec: 'latest' }),
    ])
    if (position < earliest.offset) {
      await this.options.replicas.reset({ topic: f.topic, topicId: f.topicId, partition, logStartOffset: earliest.offset, highWatermark: latest.offset })
      this.emit({ type: 'replica.reset', topic: f.topic, partition, from: position, to: earliest.offset })
      return earliest.offset
    }
    // Past the leader's end: the leader lost records this replica has (or is another log).
    const error = new EdgelogError('INCONSISTENT_TOPIC_ID', `Partition ${partition} of '${f.topic}' at ${this.options.source} ends at ${latest.offset}, before the replica's ${position}`)
    this.stopTopic(f, error)
    throw error
  }

  private failed(error: unknown): void {
    const typed = isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', String(error), { cause: error })
    this.setState(typed.retriable ? 'offline' : 'paused', typed)
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(timer); this.sleepers.delete(wake); resolve() }
      const timer = setTimeout(wake, ms)
      this.sleepers.add(wake)
    })
  }
}
