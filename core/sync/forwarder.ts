/**
 * The forwarder sends each replica partition's outbox to the leader, exactly once and in
 * order, with an idempotent producer whose state lives in the store (`fwd/<topicId>/<p>`):
 *
 * 1. A batch's sequence is fixed by its place in the outbox: its outbox offset minus the
 *    epoch's base offset, committed when the epoch starts (outbox offsets are contiguous).
 *    Every attempt — after a lost answer, a reload, a closed tab, a crash of either side —
 *    sends the very same bytes (the outbox batch stamped with the leader's producer id, the
 *    partition's epoch and that sequence), so the leader stores it once.
 * 2. A batch is never abandoned for a retriable failure: the forwarder tries again (backing
 *    off) until the leader answers, so the outcome of every sequence becomes known.
 * 3. What the leader stored leaves the outbox in one commit with the leader's offsets.
 * 4. A batch the leader refuses for good (too large, invalid, access denied) is moved aside
 *    with its typed error (a dead letter), never retried forever, never dropped silently; the
 *    partition starts a new epoch at sequence 0 (its refused sequences were never stored).
 * 5. A refused or expired token pauses forwarding with the error; it goes on by itself once
 *    requests succeed again (the token replaced).
 *
 * One forwarder per store (the browser takes a Web Lock for it); any context may append to
 * the outbox meanwhile.
 */
import { EdgelogError, isEdgelogError, type ErrorCode } from '../errors.ts'
import type { Broker, ProduceResult } from '../broker.ts'
import type { StorageAdapter } from '../storage.ts'
import { readBatchHeader } from '../codec/record-batch.ts'
import { padOffset } from '../storage.ts'
import type { TopicRecord, TopicRegistry } from '../log/topic-registry.ts'
import { deadLetterPrefix, emptyForwardState, forwardKey, Outbox, type DeadLetter, type ForwardState } from './outbox.ts'
import { stampProducer } from './stamp.ts'

export interface ForwarderOptions {
  leader: Broker
  /** The log whose outboxes are forwarded. */
  host: { storage: StorageAdapter; topics: TopicRegistry; outbox: Outbox }
  /** Only replica topics of this source are forwarded. */
  source: string
  /**
   * Batches per produce request (default 32, up to 2 MiB). The leader remembers a
   * producer's last five batches per partition: a retried request's older batches come back
   * as already stored without their offsets (delivered() then answers -1 for them), which is
   * the price of fewer round trips.
   */
  maxBatchesPerRequest?: number
}

export type ForwarderEvent =
  | { type: 'forwarded'; topic: string; partition: number; records: number; baseOffset: number }
  | { type: 'dead-letter'; topic: string; partition: number; records: number; error: EdgelogError }
  | { type: 'online' }
  | { type: 'offline'; error: EdgelogError }
  | { type: 'paused'; error: EdgelogError }

/** Refusals that will not change by trying again: the batch goes to the dead letters. */
const REFUSED_FOR_GOOD = new Set<ErrorCode>([
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP',
  'TOPIC_AUTHORIZATION_FAILED', 'INVALID_TOPIC_EXCEPTION', 'UNSUPPORTED_FOR_MESSAGE_FORMAT', 'POLICY_VIOLATION',
  'NOT_LEADER_OR_FOLLOWER', 'INVALID_REQUEST',
])
/** The leader does not take these sequences: not stored; the partition starts a new epoch. */
const SEQUENCE_REFUSALS = new Set<ErrorCode>(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'PRODUCER_FENCED'])
/** Credentials: forwarding pauses until they work again. */
const PAUSING = new Set<ErrorCode>(['UNAUTHENTICATED', 'SASL_AUTHENTICATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED'])
const MAX_EPOCH = 0x7fff
const INITIAL_BACKOFF_MS = 100
const MAX_BACKOFF_MS = 500
const DEFAULT_BATCHES_PER_REQUEST = 32
/** Bytes per produce request (the Worker takes up to 8 MiB). */
const MAX_REQUEST_BYTES = 2 << 20
/** Well under producer.id.expiration.ms (a day by default): past this, a resend checks the leader first. */
const RESCAN_AFTER_MS = 10 * 60_000
const PAUSED_BACKOFF_MS = 5_000
/** A topic missing at the leader this many times running: its records are refused for good. */
const UNKNOWN_TOPIC_ATTEMPTS = 5

export class Forwarder {
  private readonly loops = new Map<string, Promise<void>>()
  /** Each partition's forward state as last committed (this forwarder is its only writer). */
  private readonly states = new Map<string, ForwardState>()
  /** When each partition last sent a request (in this run): a resend after long silence looks at the leader first. */
  private readonly lastSent = new Map<string, number>()
  private readonly listeners = new Set<(event: ForwarderEvent) => void>()
  /** 'idle': nothing sent yet (nothing waited); then as the last attempt to reach the leader went. */
  private state: 'idle' | 'online' | 'offline' | 'paused' | 'stopped' = 'idle'
  private lastError: EdgelogError | undefined
  private scanning: Promise<void> | undefined

  constructor(private readonly options: ForwarderOptions) {}

  on(listener: (event: ForwarderEvent) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  get status(): { state: string; error?: { code: string; message: string } } {
    return { state: this.state, error: this.lastError && { code: this.lastError.code, message: this.lastError.message } }
  }

  /** Starts a loop per replica partition of the source; call again (or wake) when topics change. */
  start(): Promise<void> {
    this.scanning ??= (async () => {
      try {
        for (const record of await this.replicaTopics()) {
          for (let p = 0; p < record.partitions; p++) {
            const key = `${record.topicId}/${p}`
            if (!this.loops.has(key)) this.loops.set(key, this.partitionLoop(record, p))
          }
        }
      } finally {
        this.scanning = undefined
      }
    })()
    return this.scanning
  }

  async stop(): Promise<void> {
    this.state = 'stopped'
    this.options.host.outbox.wake()
    await Promise.allSettled([this.scanning, ...this.loops.values()])
  }

  /** Resolves once every outbox of the source is empty (delivered or moved aside). */
  async flush(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      await this.start()
      let waiting = 0
      for (const record of await this.replicaTopics()) {
        for (let p = 0; p < record.partitions; p++) {
          const log = await this.options.host.outbox.log(record, p)
          waiting += log.highWatermark - log.logStartOffset
        }
      }
      if (waiting === 0) return
      if (this.stopped) throw new EdgelogError('CLOSED', 'The forwarder stopped')
      if (Date.now() > deadline) {
        throw new EdgelogError('REQUEST_TIMED_OUT', `${waiting} records still wait in the outbox${this.lastError ? ` (${this.lastError.code}: ${this.lastError.message})` : ''}`)
      }
      await this.options.host.outbox.changed(200)
    }
  }

  private get stopped(): boolean { return this.state === 'stopped' }

  /**
   * Where the leader holds batches of this producer id and epoch (base sequence → base offset),
   * from after the last delivery remembered to its end: read once, headers only.
   */
  private async storedAtLeader(record: TopicRecord, partition: number, state: ForwardState): Promise<Map<number, number>> {
    const { leader } = this.options
    const found = new Map<number, number>()
    const [[start], [end]] = await Promise.all([
      leader.listOffsets({ topic: record.name, partitions: [partition], spec: 'earliest' }),
      leader.listOffsets({ topic: record.name, partitions: [partition], spec: 'latest' }),
    ])
    // Nothing of this epoch is below its floor (the leader's end when it began) or a later delivery.
    const lastKnown = state.delivered.reduce((max, d) => Math.max(max, d.baseOffset), -1)
    let offset = Math.max(start.offset, lastKnown + 1, state.leaderFloor ?? 0)
    while (offset < end.offset) {
      const { batches } = await leader.fetch({ topic: record.name, partition, offset, maxBytes: 1 << 20 })
      if (batches.length === 0) break
      for (const bytes of batches) {
        const h = readBatchHeader(bytes)
        if (h.producerId === state.producerId && h.producerEpoch === state.epoch) found.set(h.baseSequence, h.baseOffset)
        offset = Math.max(offset, h.baseOffset + h.lastOffsetDelta + 1)
      }
    }
    return found
  }

  private async replicaTopics(): Promise<TopicRecord[]> {
    return (await this.options.host.topics.list()).filter((t) => t.replica?.source === this.options.source)
  }

  private emit(event: ForwarderEvent): void {
    for (const l of this.listeners) {
      try { l(event) } catch { /* a listener's failure is its own */ }
    }
  }

  private setState(state: 'online' | 'offline' | 'paused', error?: EdgelogError): void {
    if (this.stopped) return
    const changed = this.state !== state
    this.state = state
    this.lastError = error
    if (changed) this.emit(state === 'online' ? { type: 'online' } : { type: state, error: error! })
  }

  private async partitionLoop(record: TopicRecord, partition: number): Promise<void> {
    const { outbox } = this.options.host
    let backoff = INITIAL_BACKOFF_MS
    let unknownTopic = 0
    while (!this.stopped) {
      try {
        const log = await outbox.log(record, partition)
        if (log.logStartOffset >= log.highWatermark) {
          await outbox.changed(1_000)
          continue
        }
        const outcome = await this.forwardOnce(record, partition, unknownTopic >= UNKNOWN_TOPIC_ATTEMPTS)
        unknownTopic = 0
        backoff = INITIAL_BACKOFF_MS
        this.setState('online')
        if (outcome === 'resequenced') continue
      } catch (error) {
        if (this.stopped) return
        // What was committed is read again (a failure may have come after applying).
        this.states.delete(forwardKey(record.topicId, partition))
        const typed = isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', String(error), { cause: error })
        if (typed.code === 'CLOSED' || typed.code === 'INCONSISTENT_TOPIC_ID') return
        if (typed.code === 'UNKNOWN_TOPIC_OR_PARTITION') unknownTopic++
        const paused = PAUSING.has(typed.code)
        this.setState(paused ? 'paused' : 'offline', typed)
        await outbox.changed(paused ? PAUSED_BACKOFF_MS : backoff)
        backoff = Math.min(MAX_BACKOFF_MS, backoff * 2)
      }
    }
  }

  /**
   * One round: the outbox's first batches go to the leader in one request, and what it stored
   * leaves the outbox with its offsets. A batch's sequence is its outbox offset minus the
   * epoch's base (`epochBase`, committed when the epoch starts): the same batch always gets the
   * same sequence, after any failure or restart, with no commit per round.
   */
  private async forwardOnce(record: TopicRecord, partition: number, topicGone: boolean): Promise<'sent' | 'resequenced'> {
    const { storage, outbox } = this.options.host
    const key = forwardKey(record.topicId, partition)
    const log = await outbox.log(record, partition)
    let state = this.states.get(key) ?? (await storage.getMeta<ForwardState>(key)) ?? emptyForwardState()
    // A producer id taken in this round cannot have anything stored yet.
    let fresh = false
    if (state.producerId < 0 || state.epochBase < 0) {
      // A new producer id (first forward, or the leader forgot ours): its sequence 0 is the outbox's first record.
      const [{ producerId, producerEpoch }, [end]] = await Promise.all([
        this.options.leader.initProducerId({}),
        this.options.leader.listOffsets({ topic: record.name, partitions: [partition], spec: 'latest' }),
      ])
      state = { ...state, producerId, epoch: producerEpoch, epochBase: log.logStartOffset, leaderFloor: end.offset }
      await storage.commit({ meta: [{ key, value: state }], durability: 'strict' })
      fresh = true
    }
    this.states.set(key, state)
    const { batches: read } = await log.read(log.logStartOffset, MAX_REQUEST_BYTES, this.options.maxBatchesPerRequest ?? DEFAULT_BATCHES_PER_REQUEST)
    if (read.length === 0) {
      // The outbox log's view is behind storage (a delivery whose commit failed after applying):
      // read it again rather than send nothing in a loop.
      await log.refresh()
      return 'sent'
    }
    const batches = read.slice(0, this.options.maxBatchesPerRequest ?? DEFAULT_BATCHES_PER_REQUEST)
    if (batches[0].baseOffset < state.epochBase) {
      throw new EdgelogError('UNKNOWN_SERVER_ERROR', `${record.name}-${partition}: the outbox starts at ${batches[0].baseOffset}, before its epoch's base ${state.epochBase}`)
    }
    const sequenceOf = (b: { baseOffset: number }) => (b.baseOffset - state.epochBase) & 0x7fffffff
    // Resending after a start or a long pause: the leader may have stored the first batches and
    // since forgotten this producer (then it would take a batch at sequence 0 as new). Look first.
    const found: ProduceResult[] = []
    const last = this.lastSent.get(key)
    if (!topicGone && !fresh && (last === undefined || Date.now() - last > RESCAN_AFTER_MS)) {
      const atLeader = await this.storedAtLeader(record, partition, state)
      for (const b of batches) {
        const at = atLeader.get(sequenceOf(b))
        if (at === undefined) break
        found.push({ topic: record.name, partition, errorCode: 0, baseOffset: at, logAppendTime: -1, logStartOffset: -1 })
      }
    }
    const entries = batches.slice(found.length).map((b) => ({
      topic: record.name, partition, batch: stampProducer(b.bytes, state.producerId, state.epoch, sequenceOf(b)),
    }))
    let results: ProduceResult[]
    if (topicGone) {
      results = entries.map(() => ({ topic: record.name, partition, errorCode: 3, error: { code: 'UNKNOWN_TOPIC_OR_PARTITION' as const, message: `Topic '${record.name}' is gone at the leader` }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }))
    } else {
      this.lastSent.set(key, Date.now())
      results = [...found, ...(entries.length ? await this.options.leader.produce({ acks: -1, entries }) : [])]
    }

    const delivered: ForwardState['delivered'] = []
    const dead: DeadLetter[] = []
    let resequence: ErrorCode | undefined
    let retry: EdgelogError | undefined
    let storedEarlier: Map<number, number> | undefined
    for (const [k, r] of results.entries()) {
      const b = batches[k]
      const code = r.error?.code
      if (!code || code === 'DUPLICATE_SEQUENCE_NUMBER') {
        delivered.push({ outboxBase: b.baseOffset, outboxLast: b.lastOffset, baseOffset: code ? -1 : r.baseOffset })
        continue
      }
      if (code === 'UNKNOWN_PRODUCER_ID') {
        // The leader forgot this producer (producer.id.expiration.ms of silence). A batch sent
        // before, whose answer was lost, may be stored: look for it at the leader before
        // sending it again under a new producer id (Kafka has no such check; it would store it twice).
        storedEarlier ??= await this.storedAtLeader(record, partition, state)
        const at = storedEarlier.get((b.baseOffset - state.epochBase) & 0x7fffffff)
        if (at !== undefined) {
          delivered.push({ outboxBase: b.baseOffset, outboxLast: b.lastOffset, baseOffset: at })
          continue
        }
      }
      if (REFUSED_FOR_GOOD.has(code) || (topicGone && code === 'UNKNOWN_TOPIC_OR_PARTITION')) {
        dead.push({
          topic: record.name, partition, outboxBase: b.baseOffset, outboxLast: b.lastOffset, error: r.error!,
          batch: toBase64(b.bytes), at: Date.now(),
        })
        resequence = code
      } else if (SEQUENCE_REFUSALS.has(code)) {
        resequence = code
      } else {
        retry = new EdgelogError(code, r.error!.message, { retriable: true })
      }
      break
    }
    const handled = delivered.length + dead.length
    if (handled > 0 || resequence) {
      const upTo = handled > 0 ? batches[handled - 1].lastOffset + 1 : log.logStartOffset
      let next: ForwardState = { ...state, delivered: Outbox.remember(state, delivered) }
      if (resequence) {
        // The sequences from the refused batch on were not stored: a new epoch, whose sequence 0
        // is the first record still in the outbox.
        const newId = resequence === 'UNKNOWN_PRODUCER_ID' || resequence === 'PRODUCER_FENCED' || state.epoch >= MAX_EPOCH
        const floor = next.delivered.reduce((max, d) => Math.max(max, d.baseOffset + 1), state.leaderFloor ?? 0)
        next = { ...next, epoch: newId ? 0 : state.epoch + 1, producerId: newId ? -1 : state.producerId, epochBase: newId ? -1 : upTo, leaderFloor: floor }
      }
      const deadMeta = dead.map((d) => ({ key: `${deadLetterPrefix}${record.topicId}/${partition}/${padOffset(d.outboxBase)}`, value: d }))
      this.states.delete(key)
      await log.deleteRecordsBefore(upTo, [{ key, value: next }, ...deadMeta], batches.slice(0, handled))
      this.states.set(key, next)
      outbox.wake()
      for (const d of delivered) this.emit({ type: 'forwarded', topic: record.name, partition, records: d.outboxLast - d.outboxBase + 1, baseOffset: d.baseOffset })
      for (const d of dead) this.emit({ type: 'dead-letter', topic: record.name, partition, records: d.outboxLast - d.outboxBase + 1, error: new EdgelogError(d.error.code as ErrorCode, d.error.message) })
    }
    if (retry) throw retry
    return resequence ? 'resequenced' : 'sent'
  }
}

function toBase64(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(s)
}
