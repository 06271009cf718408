/**
 * The KafkaJS-shaped producer. Messages are partitioned (Kafka's Java client rules), gathered
 * per partition (one batch per send, or across sends for `lingerMs`), split at `maxBatchBytes`,
 * encoded as Kafka record batches and sent to the broker, which assigns the offsets.
 * Idempotent producers number every record per partition (producer id, epoch, sequence), so a
 * retried batch is stored once; batches of one partition go one at a time, in order.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Broker, ProduceEntry, ProduceRequest, ProduceResult, TopicMetadata } from '../broker.ts'
import { encodeBatch, encodeBatchAsync, type Compression, type RecordInput } from '../codec/record-batch.ts'
import { markEncodedInProcess } from '../codec/trusted.ts'
import { Partitioners, type Partitioner, type PartitionerArgs } from '../partitioner.ts'
import { toRecordInput, describe, utf8InScratch, type Bytes, type Message } from './messages.ts'
import { SendSerializer, type Serializers } from './serializers.ts'
import { Emitter } from './events.ts'
import { createLogger, type Logger } from './consumer/logger.ts'
import { retry, type RetryOptions } from './retry.ts'
import { supportsTransactions, Transaction } from './transaction.ts'

export interface ProducerConfig<V = Bytes, K = Bytes> {
  /** Turn each message's value (key) into bytes as it is sent: Kafka's value.serializer (edgelog/schemas makes Confluent's). */
  serializers?: Serializers<V, K>
  createPartitioner?: () => Partitioner
  idempotent?: boolean
  allowAutoTopicCreation?: boolean
  transactionalId?: string
  /** KafkaJS's transactionTimeout (Kafka's transaction.timeout.ms): the coordinator aborts a transaction open longer. Default 60000. */
  transactionTimeout?: number
  /** KafkaJS's maxInFlightRequests: edgelog's producer sends one request per partition at a time anyway. */
  maxInFlightRequests?: number
  retry?: RetryOptions
  /** Wait this long for more messages to the same partition before sending (Kafka's linger.ms). 0: send at once. */
  lingerMs?: number
  /** Largest batch sent to the broker; bigger sends are split (Kafka's batch.size, in bytes). */
  maxBatchBytes?: number
  /** Default acks for sends that do not say (KafkaJS: -1). */
  acks?: -1 | 0 | 1
}

export interface ProducerRecord<V = Bytes, K = Bytes> {
  topic: string
  messages: Array<Message<V, K>>
  acks?: -1 | 0 | 1
  timeout?: number
  compression?: Compression | CompressionType
}

export interface RecordMetadata {
  topicName: string
  partition: number
  errorCode: number
  baseOffset: string
  logAppendTime: string
  logStartOffset: string
  /**
   * Written to the outbox of a followed topic (the browser, offline or not): durable here,
   * `baseOffset` '-1' until the leader stores it; `outboxOffset` is its place in the outbox
   * (`log.sync.delivered()` waits for the leader's offsets).
   */
  pending?: boolean
  outboxOffset?: string
}

export interface ProducerBatch<V = Bytes, K = Bytes> {
  topicMessages: Array<{ topic: string; messages: Array<Message<V, K>> }>
  acks?: -1 | 0 | 1
  timeout?: number
  compression?: Compression | CompressionType
}

/** KafkaJS's CompressionTypes: Kafka's codec ids. */
export const CompressionTypes = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 } as const
export type CompressionType = (typeof CompressionTypes)[keyof typeof CompressionTypes]
const COMPRESSION_NAMES: readonly Compression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd']

interface Pending {
  records: RecordInput[]
  bytes: number
  /** Each waiting send: where its records start in `records`, and how to answer it. */
  sends: Array<{ start: number; count: number; resolve: (r: SendOutcome) => void; reject: (e: unknown) => void }>
  timer?: ReturnType<typeof setTimeout>
  compression: Compression
}

interface PartitionSequence { producerId: number; epoch: number; next: number }
interface SendOutcome { baseOffset: number; logAppendTime: number; logStartOffset: number; outboxOffset?: number }

const RECORD_OVERHEAD = 24
const MAX_IDEMPOTENT_BATCHES = 5
/** Producer epochs are int16. */
const MAX_EPOCH = 0x7fff
/** A partition that used every epoch of its producer id: the next send takes a new id. */
const EPOCH_EXHAUSTED = -1

export class Producer<V = Bytes, K = Bytes> {
  readonly events = {
    CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect', REQUEST: 'producer.network.request',
    REQUEST_TIMEOUT: 'producer.network.request_timeout', REQUEST_QUEUE_SIZE: 'producer.network.request_queue_size',
  } as const
  private readonly emitter = new Emitter()
  private log: Logger | undefined
  /** Produce requests sent and not yet answered (REQUEST_QUEUE_SIZE). */
  private requestsInFlight = 0
  private correlationId = 0
  /** The client's id (KafkaJS's clientId), in instrumentation events. */
  clientId = 'edgelog'
  private readonly partitioner: Partitioner
  /** A built-in partitioner: it only hashes a key, so a string key is handed as scratch bytes. */
  private readonly hashesKeys: boolean
  private readonly builtInArgs: PartitionerArgs = { topic: '', partitionMetadata: [], message: { key: null, partition: undefined } }
  private readonly lingerMs: number
  private readonly maxBatchBytes: number
  private readonly idempotent: boolean
  private producerId = -1
  private producerEpoch = -1
  /**
   * Per partition: the epoch its batches carry and the next sequence, under the producer id
   * they count for (a new producer id starts every partition at its epoch and sequence 0).
   */
  private readonly sequences = new Map<string, PartitionSequence>()
  private readonly pending = new Map<string, Pending>()
  /** Per partition, the tail of its in-flight sends: batches of one partition go in order. */
  private readonly inFlight = new Map<string, Promise<unknown>>()
  private readonly metadata = new Map<string, Promise<TopicMetadata>>()
  private connecting: Promise<void> | null = null
  /** Aborted by disconnect(): ends retry backoffs at once. */
  private stopping = new AbortController()
  private renewing: Promise<void> | null = null
  private serializing: SendSerializer<V, K> | undefined

  /** A transactionalId was given: sends go through `transaction()` only (core/client/transaction.ts). */
  private readonly transactional: boolean
  private currentTransaction: Transaction<V, K> | undefined

  constructor(private readonly broker: Broker, private readonly config: ProducerConfig<V, K> = {}, preferredBatchBytes?: number) {
    if (config.transactionalId !== undefined && config.transactionalId !== null && (typeof config.transactionalId !== 'string' || config.transactionalId === '')) {
      throw new EdgelogError('INVALID_REQUEST', `transactionalId must be a non-empty string, got ${describe(config.transactionalId)}`)
    }
    this.transactional = typeof config.transactionalId === 'string'
    this.partitioner = (config.createPartitioner ?? Partitioners.DefaultPartitioner)()
    this.hashesKeys = config.createPartitioner === undefined || Object.values(Partitioners).includes(config.createPartitioner)
    this.lingerMs = Math.max(0, config.lingerMs ?? 0)
    this.maxBatchBytes = config.maxBatchBytes ?? preferredBatchBytes ?? 1024 * 1024
    // A transactional producer is idempotent (KafkaJS's transaction() sends idempotently).
    this.idempotent = (config.idempotent ?? false) || this.transactional
  }

  on(event: string, listener: (e: unknown) => void): () => void { return this.emitter.on(event, listener) }
  /** KafkaJS's producer.logger(): a Logger namespaced 'Producer'. */
  logger(): Logger { return (this.log ??= createLogger('Producer')) }
  isIdempotent(): boolean { return this.idempotent }

  connect(): Promise<void> {
    this.connecting ??= this.open()
    this.connecting.catch(() => { this.connecting = null })
    return this.connecting
  }

  private async open(): Promise<void> {
    if (this.idempotent && this.producerId < 0) {
      const { producerId, producerEpoch } = await this.broker.initProducerId(this.transactional
        ? { transactionalId: this.config.transactionalId, transactionTimeoutMs: this.config.transactionTimeout }
        : {})
      this.producerId = producerId
      this.producerEpoch = producerEpoch
    }
    this.emitter.emit(this.events.CONNECT, {})
  }

  /**
   * Sends what waits for linger, ends every retry backoff at once (such a send rejects with its
   * last error: its outcome unknown) and waits for the requests in flight; no timer is left.
   */
  async disconnect(): Promise<void> {
    const flushing = this.flush()
    this.stopping.abort()
    await Promise.allSettled([flushing, ...this.inFlight.values()])
    this.stopping = new AbortController()
    this.connecting = null
    this.emitter.emit(this.events.DISCONNECT, {})
  }

  /**
   * KafkaJS's `producer.transaction()`: one transaction at a time; its `send`, `sendBatch`,
   * `sendOffsets`, then `commit()` or `abort()`. The first call registers the transactional id
   * with the coordinator (a new epoch: an older producer with the same id is fenced).
   */
  async transaction(): Promise<Transaction<V, K>> {
    if (!this.transactional) throw new EdgelogError('INVALID_REQUEST', 'Must provide transactional id for transactional producer')
    if (!supportsTransactions(this.broker)) throw new EdgelogError('UNSUPPORTED_VERSION', 'This broker has no transactions (edgelog/http does not carry them yet)')
    if (this.currentTransaction?.isActive()) {
      throw new EdgelogError('INVALID_TXN_STATE', 'There is already an ongoing transaction for this producer. Please end the transaction before beginning another.')
    }
    await this.connect()
    const transaction = new Transaction<V, K>({
      broker: this.broker,
      transactionalId: this.config.transactionalId!,
      identity: () => ({ producerId: this.producerId, producerEpoch: this.producerEpoch }),
      send: (batch, join) => this.produceBatch(batch, join),
      settle: async () => {
        await this.flush()
        await Promise.allSettled([...this.inFlight.values()])
      },
      bumpEpoch: async () => {
        const { producerId, producerEpoch } = await this.broker.initProducerId({
          transactionalId: this.config.transactionalId, transactionTimeoutMs: this.config.transactionTimeout,
          producerId: this.producerId, producerEpoch: this.producerEpoch,
        })
        this.producerId = producerId
        this.producerEpoch = producerEpoch
        this.sequences.clear()
      },
    })
    this.currentTransaction = transaction
    return transaction
  }

  async send(record: ProducerRecord<V, K>): Promise<RecordMetadata[]> {
    if (typeof record !== 'object' || record === null) throw new EdgelogError('INVALID_REQUEST', 'send() takes { topic, messages }')
    return this.sendBatch({ topicMessages: [{ topic: record.topic, messages: record.messages }], acks: record.acks, compression: record.compression })
  }

  async sendBatch(batch: ProducerBatch<V, K>): Promise<RecordMetadata[]> {
    if (this.transactional) {
      throw new EdgelogError('INVALID_TXN_STATE', 'A transactional producer sends inside a transaction: const txn = await producer.transaction(); await txn.send(…)')
    }
    return this.produceBatch(batch)
  }

  /** Sends; inside a transaction `join` adds the partitions to it before anything is queued. */
  private async produceBatch(batch: ProducerBatch<V, K>, join?: (placed: Array<{ topic: string; partition: number }>) => Promise<void>): Promise<RecordMetadata[]> {
    // Every send awaits the same promise, so sends reach their partitions' queues in call order.
    await this.connect()
    if (!Array.isArray(batch?.topicMessages)) throw new EdgelogError('INVALID_REQUEST', 'sendBatch() takes { topicMessages: [{ topic, messages }] }')
    const acks = batch.acks ?? this.config.acks ?? -1
    if (acks !== -1 && acks !== 0 && acks !== 1) throw new EdgelogError('INVALID_REQUIRED_ACKS', `acks must be -1, 0 or 1, got ${describe(acks)}`)
    const compression = toCompression(batch.compression)
    const now = Date.now()
    // Validate and place every message before queueing any: a bad message sends nothing.
    const placed: Array<{ topic: string; partition: number; records: RecordInput[] }> = []
    const serializers = this.config.serializers
    const topicMessages = serializers ? await (this.serializing ??= new SendSerializer(serializers)).run(batch.topicMessages) : batch.topicMessages as ProducerBatch['topicMessages']
    for (const { topic, messages } of topicMessages) {
      if (!Array.isArray(messages)) throw new EdgelogError('INVALID_REQUEST', `messages for '${topic}' must be an array`)
      const meta = await this.topicMetadata(topic)
      const byPartition = new Map<number, RecordInput[]>()
      // Consecutive messages mostly go to one partition (one partition, sticky keyless): its list at hand.
      let lastPartition = -1
      let lastList: RecordInput[] | undefined
      for (const message of messages) {
        const input = toRecordInput(message, now)
        const partition = this.choosePartition(topic, meta, message)
        let list = partition === lastPartition ? lastList : byPartition.get(partition)
        if (!list) byPartition.set(partition, (list = []))
        lastPartition = partition
        lastList = list
        list.push(input)
      }
      for (const [partition, records] of byPartition) placed.push({ topic, partition, records })
      this.partitioner.onNewBatch?.(topic)
    }
    if (join) await join(placed)
    const results = await Promise.all(placed.map(({ topic, partition, records }) =>
      this.enqueue(topic, partition, records, acks, compression).then((r) => ({ topic, partition, ...r }))))
    if (acks === 0) return []
    return results.map((r) => ({
      topicName: r.topic, partition: r.partition, errorCode: 0, baseOffset: String(r.baseOffset),
      logAppendTime: String(r.logAppendTime), logStartOffset: String(r.logStartOffset),
      ...(r.outboxOffset === undefined ? {} : { pending: true, outboxOffset: String(r.outboxOffset) }),
    }))
  }

  /** Sends everything waiting for linger now. */
  async flush(): Promise<void> {
    const keys = [...this.pending.keys()]
    await Promise.allSettled(keys.map((k) => this.drain(k, this.config.acks ?? -1)))
  }

  private choosePartition(topic: string, meta: TopicMetadata, message: Message): number {
    const count = meta.partitions.length
    if (message.partition !== undefined && message.partition !== null) {
      if (!Number.isInteger(message.partition) || message.partition < 0 || message.partition >= count) {
        throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `Topic '${topic}' has no partition ${describe(message.partition)} (it has ${count})`)
      }
      return message.partition
    }
    // A built-in partitioner can only answer 0 for a topic of one partition: no key to hash.
    if (count === 1 && this.hashesKeys) return 0
    let partition: number
    if (this.hashesKeys) {
      // A built-in partitioner keeps nothing it is given and hashes a string key's UTF-8 bytes:
      // it gets them in a reused buffer, and reused argument objects (no allocation per message).
      const args = this.builtInArgs
      const key = message.key
      args.topic = topic
      args.partitionMetadata = meta.partitions
      args.message.key = typeof key === 'string' ? utf8InScratch(key) : key
      args.message.partition = message.partition
      partition = this.partitioner(args)
    } else {
      partition = this.partitioner({ topic, partitionMetadata: meta.partitions, message })
    }
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new EdgelogError('UNKNOWN_TOPIC_OR_PARTITION', `The partitioner chose partition ${describe(partition)} of '${topic}' (it has ${count})`)
    }
    return partition
  }

  /** Cached per topic; concurrent sends share one request, so they queue in call order. */
  private topicMetadata(topic: string): Promise<TopicMetadata> {
    let cached = this.metadata.get(topic)
    if (!cached) {
      cached = this.broker.metadata({ topics: [topic], allowAutoTopicCreation: this.config.allowAutoTopicCreation ?? true }).then(([meta]) => meta)
      this.metadata.set(topic, cached)
      cached.catch(() => this.metadata.delete(topic))
    }
    return cached
  }

  private enqueue(topic: string, partition: number, records: RecordInput[], acks: -1 | 0 | 1, compression: Compression) {
    const key = `${topic}\u0000${partition}`
    let pending = this.pending.get(key)
    let start = 0
    // Nothing waiting (always so without linger): the send's own list (made by sendBatch) is the batch.
    if (!pending) this.pending.set(key, (pending = { records, bytes: 0, sends: [], compression }))
    else {
      start = pending.records.length
      for (const r of records) pending.records.push(r)
    }
    for (const r of records) pending.bytes += estimatedSize(r)
    const answer = new Promise<SendOutcome>((resolve, reject) => {
      pending!.sends.push({ start, count: records.length, resolve, reject })
    })
    if (this.lingerMs === 0 || pending.bytes >= this.maxBatchBytes) void this.drain(key, acks)
    else pending.timer ??= setTimeout(() => void this.drain(key, acks), this.lingerMs)
    return answer
  }

  /** Sends what is pending for one partition, after the partition's previous sends. */
  private drain(key: string, acks: -1 | 0 | 1): Promise<void> {
    const pending = this.pending.get(key)
    if (!pending) return Promise.resolve()
    this.pending.delete(key)
    if (pending.timer) clearTimeout(pending.timer)
    const [topic, p] = key.split('\u0000')
    const partition = Number(p)
    const previous = this.inFlight.get(key) ?? Promise.resolve()
    const sending = previous.catch(() => {}).then(() => this.sendPartition(topic, partition, key, pending.records, acks, pending.compression, pending.bytes))
      .catch((error: unknown) => {
        // A transactional producer never bumps its own epoch (the coordinator's markers must
        // outrank it): the transaction is aborted, then the coordinator gives the next epoch.
        if (this.idempotent && !this.transactional) this.abandonSequences(key)
        throw error
      })
    this.inFlight.set(key, sending)
    return sending.then(
      (offsets) => {
        for (const send of pending.sends) {
          const outboxOffset = offsets.outboxOffsets?.[send.start]
          send.resolve({ baseOffset: offsets.baseOffsets[send.start], logAppendTime: offsets.logAppendTime, logStartOffset: offsets.logStartOffset, ...(outboxOffset === undefined ? {} : { outboxOffset }) })
        }
      },
      (error) => { for (const send of pending.sends) send.reject(error) },
    ).finally(() => { if (this.inFlight.get(key) === sending) this.inFlight.delete(key) })
  }

  /** Encodes and sends one partition's records; answers the offset of each record. */
  /**
   * One produce request, with KafkaJS's network instrumentation events (REQUEST, REQUEST_TIMEOUT,
   * REQUEST_QUEUE_SIZE); their payloads are built only when someone listens.
   */
  private async produceRequest(req: ProduceRequest): Promise<ProduceResult[]> {
    const watched = this.emitter.has(this.events.REQUEST) || this.emitter.has(this.events.REQUEST_TIMEOUT) || this.emitter.has(this.events.REQUEST_QUEUE_SIZE)
    if (!watched) return this.broker.produce(req)
    const correlationId = this.correlationId++
    const sentAt = Date.now()
    let size = 0
    for (const e of req.entries) size += e.batch.byteLength
    const common = { broker: 'edgelog', clientId: this.clientId, correlationId, apiName: 'Produce', apiKey: 0, apiVersion: 9 }
    this.emitter.emit(this.events.REQUEST_QUEUE_SIZE, { broker: common.broker, clientId: common.clientId, queueSize: ++this.requestsInFlight })
    try {
      const results = await this.broker.produce(req)
      this.emitter.emit(this.events.REQUEST, { ...common, size, createdAt: sentAt, sentAt, pendingDuration: 0, duration: Date.now() - sentAt })
      return results
    } catch (error) {
      if (isEdgelogError(error, 'REQUEST_TIMED_OUT')) {
        this.emitter.emit(this.events.REQUEST_TIMEOUT, { ...common, size, createdAt: sentAt, sentAt, pendingDuration: 0 })
      }
      throw error
    } finally {
      this.emitter.emit(this.events.REQUEST_QUEUE_SIZE, { broker: common.broker, clientId: common.clientId, queueSize: --this.requestsInFlight })
    }
  }

  /**
   * Encodes one partition's records as batches (split at maxBatchBytes) and sends them in ONE
   * produce request, so that the log commits them together (one storage write, one HTTP
   * request). Retries resend only what is not yet stored; an idempotent log drops duplicates.
   */
  private async sendPartition(topic: string, partition: number, key: string, records: RecordInput[], acks: -1 | 0 | 1, compression: Compression, estimatedBytes?: number) {
    const baseOffsets: number[] = new Array(records.length)
    let outboxOffsets: number[] | undefined
    let logAppendTime = -1
    let logStartOffset = -1
    let encoded = await this.encodeChunks(key, records, compression, 0, estimatedBytes)
    let stored = 0
    let renewals = 0
    const stopping = this.stopping.signal
    while (stored < encoded.length) await retry(this.config.retry, async () => {
      // An idempotent log remembers a producer's last five batches per partition (Kafka's
      // max.in.flight.requests.per.connection limit): never more than that in one request.
      const remaining = encoded.slice(stored, this.idempotent ? stored + MAX_IDEMPOTENT_BATCHES : undefined)
      // A batch goes out once as encoded: an in-process store may keep that very array
      // (adapters/memory), and the log writes offsets into what it is given, so a retry sends a copy.
      const entries: ProduceEntry[] = remaining.map((c) => ({ topic, partition, batch: c.sent ? markEncodedInProcess(c.bytes.slice()) : ((c.sent = true), c.bytes) }))
      // Kafka's produce request names a transactional producer: a broker checks its batches with the coordinator.
      const results = await this.produceRequest(this.transactional ? { acks, entries, transactionalId: this.config.transactionalId } : { acks, entries })
      for (const [i, r] of results.entries()) {
        if (r.error?.code === 'UNKNOWN_PRODUCER_ID' && this.idempotent && !this.transactional && renewals < 2) {
          // The log no longer knows this producer (its state expired after producer.id.expiration.ms
          // of silence): take a new producer id — unless another partition already did since this
          // batch was encoded — and send what is left again, from that id's sequence 0.
          if (remaining[i].producerId === this.producerId) await this.renewProducerId()
          renewals++
          encoded = [...encoded.slice(0, stored), ...await this.encodeChunks(key, records.slice(encoded[stored].start), compression, encoded[stored].start)]
          throw new EdgelogError('UNKNOWN_PRODUCER_ID', r.error.message, { retriable: true })
        }
        if (r.error?.code === 'DUPLICATE_SEQUENCE_NUMBER') {
          // Stored by an earlier attempt whose answer was lost; its offsets are no longer known.
          r.baseOffset = -1
        } else if (r.error) {
          if (r.error.code === 'UNKNOWN_TOPIC_OR_PARTITION') this.metadata.delete(topic)
          throw new EdgelogError(r.error.code, r.error.message)
        }
        const chunk = remaining[i]
        for (let n = 0; n < chunk.count; n++) baseOffsets[chunk.start + n] = r.baseOffset < 0 ? -1 : r.baseOffset + n
        if (r.pending) {
          outboxOffsets ??= new Array(records.length)
          for (let n = 0; n < chunk.count; n++) outboxOffsets[chunk.start + n] = r.pending.outboxOffset + n
        }
        // Only a sequence of the current producer id counts (a renewal may have happened meanwhile).
        if (this.idempotent && chunk.producerId === this.producerId) this.sequences.set(key, { producerId: chunk.producerId, epoch: chunk.producerEpoch, next: chunk.nextSequence })
        logAppendTime = r.logAppendTime
        logStartOffset = r.logStartOffset
        stored++
      }
    }, stopping)
    return { baseOffsets, outboxOffsets, logAppendTime, logStartOffset }
  }

  /** Encodes records as batches under maxBatchBytes, numbering them from the partition's next sequence. */
  private async encodeChunks(key: string, records: RecordInput[], compression: Compression, offsetInSend = 0, estimatedBytes?: number) {
    const encoded: Array<{ start: number; count: number; bytes: Uint8Array; nextSequence: number; producerId: number; producerEpoch: number; sent?: boolean }> = []
    if (this.idempotent && this.sequences.get(key)?.epoch === EPOCH_EXHAUSTED) await this.renewProducerId()
    const current = this.sequences.get(key)
    const renewed = !current || current.producerId !== this.producerId
    let sequence = renewed ? 0 : current.next
    const producerEpoch = renewed ? this.producerEpoch : current.epoch
    // All in one batch when the estimate (enqueue's sum of estimatedSize) fits: what splitRecords would answer.
    const chunks = estimatedBytes !== undefined && BATCH_OVERHEAD + estimatedBytes <= this.maxBatchBytes
      ? [{ start: 0, records }]
      : splitRecords(records, this.maxBatchBytes)
    for (let c = 0; c < chunks.length; c++) {
      const chunk = chunks[c]
      const options = this.idempotent
        ? { producerId: this.producerId, producerEpoch, baseSequence: sequence, isTransactional: this.transactional }
        : {}
      const bytes = compression === 'none'
        ? encodeBatch(chunk.records, options)
        : await encodeBatchAsync(chunk.records, { ...options, compression })
      if (bytes.length > this.maxBatchBytes && chunk.records.length > 1) {
        // Larger than estimated (strings count one byte per character until encoded): encode
        // each half instead.
        const half = chunk.records.length >> 1
        chunks.splice(c, 1, { start: chunk.start, records: chunk.records.slice(0, half) }, { start: chunk.start + half, records: chunk.records.slice(half) })
        c--
        continue
      }
      sequence = (sequence + chunk.records.length) & 0x7fffffff
      encoded.push({ start: offsetInSend + chunk.start, count: chunk.records.length, bytes: markEncodedInProcess(bytes), nextSequence: sequence, producerId: this.producerId, producerEpoch })
    }
    return encoded
  }

  /**
   * A send to this partition failed, and any of its batches may have been stored anyway (an
   * answer lost, retries exhausted). Its sequence numbers must never carry other records: the
   * log would take them for a retry, answer "duplicate" and store nothing. As KIP-360 does for
   * idempotent producers, the partition bumps its epoch and starts again at sequence 0; the
   * log takes a higher epoch at sequence 0 as a fresh start, and fences any late retry of the
   * old epoch (INVALID_PRODUCER_EPOCH). Sends to one partition go one at a time, so nothing of
   * the old epoch is still in flight from this producer. At the last epoch a new id is taken.
   */
  private abandonSequences(key: string): void {
    const current = this.sequences.get(key)
    const epoch = current && current.producerId === this.producerId ? current.epoch : this.producerEpoch
    this.sequences.set(key, { producerId: this.producerId, epoch: epoch === EPOCH_EXHAUSTED || epoch >= MAX_EPOCH ? EPOCH_EXHAUSTED : epoch + 1, next: 0 })
  }

  /** A new producer id (shared by concurrent callers); sequences of the old one no longer count. */
  private renewProducerId(): Promise<void> {
    this.renewing ??= this.broker.initProducerId({}).then(({ producerId, producerEpoch }) => {
      this.producerId = producerId
      this.producerEpoch = producerEpoch
    }).finally(() => { this.renewing = null })
    return this.renewing
  }
}

const BATCH_OVERHEAD = 61

/**
 * A record's size as batches are planned. A string counts its length: exact for ASCII (a
 * batch that comes out larger is split by encodeChunks).
 */
function estimatedSize(r: RecordInput): number {
  let size = RECORD_OVERHEAD + (r.key?.length ?? 0) + (r.value?.length ?? 0)
  if (r.headers) for (const h of r.headers) size += 10 + h.key.length * 3 + (h.value?.byteLength ?? 0)
  return size
}

/** Splits records into runs whose encoded size stays under `maxBytes` (one record at least). */
function splitRecords(records: RecordInput[], maxBytes: number): Array<{ start: number; records: RecordInput[] }> {
  const chunks: Array<{ start: number; records: RecordInput[] }> = []
  let start = 0
  let size = BATCH_OVERHEAD
  for (let i = 0; i < records.length; i++) {
    const recordSize = estimatedSize(records[i])
    if (i > start && size + recordSize > maxBytes) {
      chunks.push({ start, records: records.slice(start, i) })
      start = i
      size = BATCH_OVERHEAD
    }
    size += recordSize
  }
  if (records.length > start) chunks.push({ start, records: start === 0 ? records : records.slice(start) })
  return chunks
}

function toCompression(value: ProducerBatch['compression']): Compression {
  if (value === undefined) return 'none'
  if (typeof value === 'number' && COMPRESSION_NAMES[value] !== undefined) return COMPRESSION_NAMES[value]
  if (typeof value === 'string' && COMPRESSION_NAMES.includes(value)) return value
  throw new EdgelogError('UNSUPPORTED_FOR_MESSAGE_FORMAT', `Compression ${describe(value)} is not supported (CompressionTypes: None, GZIP, Snappy, LZ4, ZSTD)`)
}

export function isRetriable(error: unknown): boolean {
  return isEdgelogError(error) && error.retriable
}
