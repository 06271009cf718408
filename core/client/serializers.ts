/**
 * Serializers and deserializers given to the client (Kafka's key.serializer/value.serializer):
 * the producer turns each message's key and value into bytes before it partitions and encodes
 * them, and the consumer turns the fetched bytes back before handing messages over. A function
 * may answer at once or with a promise (a registry lookup); edgelog/schemas makes Confluent's.
 * Null keys and values (tombstones) are passed through, as Confluent's serializers do.
 */
import { EdgelogError, isEdgelogError } from '../errors.ts'
import type { Bytes, IHeaders, KafkaMessage, Message, RecordBytes } from './messages.ts'

export interface SerializerContext {
  topic: string
  /** True for the key, false for the value (one function may do both, with a subject each). */
  isKey: boolean
  headers?: IHeaders
}

export interface DeserializerContext {
  topic: string
  partition: number
  offset: string
  isKey: boolean
  headers: KafkaMessage['headers']
}

/**
 * Written as a method's type (checked bivariantly), so that a Producer<string> is still a
 * Producer<unknown>: code that types a producer as `ReturnType<typeof log.producer>` keeps working.
 */
export type Serializer<T> = { bivariant(data: T, context: SerializerContext): Bytes | Promise<Bytes> }['bivariant']
/** Called with the context only when it declares a second parameter (`fn.length > 1`): no object made per record otherwise. */
export type Deserializer<T> = (data: RecordBytes, context: DeserializerContext) => T | Promise<T>

export interface Serializers<V, K> { key?: Serializer<K>; value?: Serializer<V> }
export interface Deserializers<V, K> { key?: Deserializer<K>; value?: Deserializer<V> }

type TopicMessages<V, K> = Array<{ topic: string; messages: Array<Message<V, K>> }>

/**
 * The producer's serialization of sends, answered in call order: a send whose values are
 * ready at once still waits for an earlier one whose schema is being fetched, so sends reach
 * their partitions in the order they were made.
 */
export class SendSerializer<V, K> {
  private tail: Promise<unknown> = Promise.resolve()
  private inFlight = 0

  constructor(private readonly serializers: Serializers<V, K>) {}

  run(topicMessages: TopicMessages<V, K>): TopicMessages<Bytes, Bytes> | Promise<TopicMessages<Bytes, Bytes>> {
    const waits: Array<Promise<void>> = []
    let out: TopicMessages<Bytes, Bytes>
    try {
      out = topicMessages.map(({ topic, messages }) => {
        if (!Array.isArray(messages)) return { topic, messages: messages as Message[] }
        // One context per topic and field, shared by the messages without headers (never changed after).
        const contexts = { key: { topic, isKey: true }, value: { topic, isKey: false } }
        return { topic, messages: messages.map((m) => serializeMessage(m, contexts, this.serializers, waits)) }
      })
    } catch (e) {
      settleQuietly(waits)
      throw e
    }
    if (waits.length === 0 && this.inFlight === 0) return out
    this.inFlight++
    const ready = this.tail.then(() => Promise.all(waits)).then(() => out)
    this.tail = ready.then(() => { this.inFlight-- }, () => { this.inFlight-- })
    return ready
  }
}

function serializeMessage<V, K>(m: Message<V, K>, contexts: Record<'key' | 'value', SerializerContext>, s: Serializers<V, K>, waits: Array<Promise<void>>): Message {
  if (typeof m !== 'object' || m === null) return m as Message
  const out = { ...m } as unknown as Message
  if (s.key) serializeField(out, 'key', s.key as Serializer<unknown>, contexts, waits)
  if (s.value) serializeField(out, 'value', s.value as Serializer<unknown>, contexts, waits)
  return out
}

/** Replaces `out[field]` with its serialized bytes: at once, or once the promise in `waits` settles. */
function serializeField(out: Message, field: 'key' | 'value', serializer: Serializer<unknown>, contexts: Record<'key' | 'value', SerializerContext>, waits: Array<Promise<void>>): void {
  const data = out[field]
  if (data === null || data === undefined) return
  const context = out.headers === undefined ? contexts[field] : { ...contexts[field], headers: out.headers }
  let result: Bytes | Promise<Bytes>
  try {
    result = serializer(data, context)
  } catch (e) {
    throw serializeError(e, context.topic, field)
  }
  if (isPromise(result)) waits.push(result.then((bytes) => { out[field] = bytes }, (e) => { throw serializeError(e, context.topic, field) }))
  else out[field] = result
}

/** The serializer's own typed error is kept (SchemaRegistryError, EdgelogError); anything else is INVALID_RECORD. */
function serializeError(e: unknown, topic: string, field: string): unknown {
  if (isEdgelogError(e) || (e instanceof Error && typeof (e as { code?: unknown }).code === 'string')) return e
  return new EdgelogError('INVALID_RECORD', `The ${field} serializer failed for topic '${topic}': ${(e as Error)?.message ?? String(e)}`, { cause: e })
}

/**
 * Deserializes the fetched messages of one partition in place. A record that cannot be read
 * fails the fetch with INVALID_RECORD naming it (as Java's RecordDeserializationException), the
 * deserializer's error as its cause; retriable when that error is (the registry unreachable),
 * so the consumer fetches again rather than stopping.
 */
export async function deserializeMessages(messages: KafkaMessage[], topic: string, partition: number, d: Deserializers<unknown, unknown>): Promise<void> {
  let waits: Array<Promise<void>> | undefined
  const failed = (m: KafkaMessage, field: string, e: unknown): EdgelogError => {
    const retriable = (e as { retriable?: unknown })?.retriable === true
    return new EdgelogError('INVALID_RECORD', `Cannot deserialize the ${field} of ${topic}-${partition} at offset ${m.offset}: ${(e as Error)?.message ?? String(e)}`, { cause: e, retriable })
  }
  for (const m of messages) {
    for (const field of FIELDS) {
      const deserializer = field === 'key' ? d.key : d.value
      const data = m[field]
      if (!deserializer || data === null) continue
      let result: unknown
      try {
        // A deserializer that declares no context parameter (edgelog/schemas' own) gets none: no object per record.
        result = deserializer.length > 1 ? deserializer(data, { topic, partition, offset: m.offset, isKey: field === 'key', headers: m.headers }) : (deserializer as (d: RecordBytes) => unknown)(data)
      } catch (e) {
        if (waits) settleQuietly(waits)
        throw failed(m, field, e)
      }
      if (isPromise(result)) {
        (waits ??= []).push(result.then((v) => { (m as unknown as Record<string, unknown>)[field] = v }, (e) => { throw failed(m, field, e) }))
      } else {
        (m as unknown as Record<string, unknown>)[field] = result
      }
    }
  }
  if (waits) await Promise.all(waits)
}

const FIELDS = ['key', 'value'] as const

function isPromise<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function'
}

/** Work already started for a send that failed at once: its outcome no longer matters. */
function settleQuietly(waits: Array<Promise<void>>): void {
  for (const w of waits) w.catch(() => {})
}
