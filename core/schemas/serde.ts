/**
 * Confluent's wire format (magic byte 0, the schema id as a 4-byte big-endian integer, then
 * the payload: Avro binary, or JSON text for JSON Schema) and a serializer/deserializer over
 * any schema source — the in-process SchemaRegistry or a remote registry (RegistryClient) —
 * with schemas cached by id (forever: an id never changes meaning) and the latest id per
 * subject cached for `latestTtlMs`, so producing and consuming make no request per record.
 */
import type { Message } from '../client/messages.ts'
import type { Deserializer, Serializer } from '../client/serializers.ts'
import { avroDecode, avroEncode } from './avro-codec.ts'
import { SchemaRegistryError } from './errors.ts'
import { jsonSchemaErrors } from './json-schema.ts'
import type { SchemaById, SubjectVersion } from './registry.ts'
import { parseSchema, type ParsedSchema, type SchemaInput, type SchemaReference } from './schema-types.ts'

export const MAGIC_BYTE = 0

/** What the serde needs of a registry: SchemaRegistry (in process) and RegistryClient (HTTP) both are one. */
export interface SchemaSource {
  schemaById(id: number): Promise<SchemaById>
  getVersion(subject: string, version: number | 'latest'): Promise<SubjectVersion>
  register?(subject: string, input: SchemaInput): Promise<{ id: number }>
}

export function encodeWireFormat(id: number, payload: Uint8Array): Uint8Array {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new SchemaRegistryError('INVALID_REQUEST', `Schema id ${id} does not fit in 4 bytes`)
  const out = new Uint8Array(5 + payload.length)
  out[0] = MAGIC_BYTE
  new DataView(out.buffer).setUint32(1, id)
  out.set(payload, 5)
  return out
}

export function decodeWireFormat(bytes: Uint8Array): { id: number; payload: Uint8Array } {
  return { id: wireId(bytes), payload: bytes.subarray(5) }
}

/** The schema id of a wire-format value; UNKNOWN_MAGIC_BYTE when it is not one. */
function wireId(bytes: Uint8Array): number {
  if (!(bytes instanceof Uint8Array) || bytes.length < 5) throw new SchemaRegistryError('UNKNOWN_MAGIC_BYTE', `Not Confluent's wire format: ${bytes?.length ?? 0} bytes, at least 5 expected`)
  if (bytes[0] !== MAGIC_BYTE) throw new SchemaRegistryError('UNKNOWN_MAGIC_BYTE', `Unknown magic byte ${bytes[0]} (Confluent's wire format starts with 0)`)
  return ((bytes[1] << 24) >>> 0) + (bytes[2] << 16) + (bytes[3] << 8) + bytes[4]
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export interface SerdeOptions {
  /** How long the latest id of a subject is trusted, in ms (default 60 s). */
  latestTtlMs?: number
  now?: () => number
}

export type EncodeTarget = string | { subject: string; version?: number | 'latest' } | { id: number }

/** Which schema a producer's serializer writes with. */
export interface SerializerOptions {
  /**
   * The subject whose latest version (or `version`) encodes; by default Confluent's
   * TopicNameStrategy: `<topic>-value`, and `<topic>-key` for keys.
   */
  subject?: string | ((topic: string, isKey: boolean) => string)
  version?: number
  /** A fixed schema id instead (as `registry.encode(id, value)`). */
  id?: number
}

export const topicNameStrategy = (topic: string, isKey: boolean): string => `${topic}-${isKey ? 'key' : 'value'}`

export class SchemaSerde {
  private readonly byId = new Map<number, Promise<ParsedSchema>>()
  private readonly latest = new Map<string, { at: number; id: Promise<number> }>()
  /** What the promises above resolved to, so that serializers answer at once once they know. */
  private readonly parsed = new Map<number, ParsedSchema>()
  private readonly latestKnown = new Map<string, { at: number; id: number }>()
  /** A subject's numbered version keeps its id: fetched once. */
  private readonly versionIds = new Map<string, Promise<number>>()
  private readonly versionKnown = new Map<string, number>()
  private readonly ttl: number
  private readonly now: () => number

  constructor(private readonly source: SchemaSource, options: SerdeOptions = {}) {
    this.ttl = options.latestTtlMs ?? 60_000
    this.now = options.now ?? Date.now
  }

  /** The parsed schema of an id (fetched once). SCHEMA_NOT_FOUND for an unknown id. */
  schema(id: number): Promise<ParsedSchema> {
    let p = this.byId.get(id)
    if (!p) {
      p = this.source.schemaById(id).then((s) => this.parseWithReferences(s))
      this.byId.set(id, p)
      p.then((parsed) => { this.parsed.set(id, parsed) }, () => {})
      p.catch(() => this.byId.delete(id))
    }
    return p
  }

  /** The id a subject's version (default latest) encodes with. */
  async idOf(subject: string, version: number | 'latest' = 'latest'): Promise<number> {
    if (version !== 'latest') {
      const key = `${subject}\u0000${version}`
      let id = this.versionIds.get(key)
      if (!id) {
        id = this.source.getVersion(subject, version).then((v) => v.id)
        this.versionIds.set(key, id)
        id.then((n) => { this.versionKnown.set(key, n) }, () => this.versionIds.delete(key))
      }
      return id
    }
    const cached = this.latest.get(subject)
    if (cached && this.now() - cached.at < this.ttl) return cached.id
    const at = this.now()
    const id = this.source.getVersion(subject, 'latest').then((v) => v.id)
    this.latest.set(subject, { at, id })
    id.then((n) => { this.latestKnown.set(subject, { at, id: n }) }, () => this.latest.delete(subject))
    return id
  }

  /** The id `idOf` would answer, if it is known and fresh now; else undefined. */
  private knownIdOf(subject: string, version: number | 'latest'): number | undefined {
    if (version !== 'latest') return this.versionKnown.get(`${subject}\u0000${version}`)
    const known = this.latestKnown.get(subject)
    return known && this.now() - known.at < this.ttl ? known.id : undefined
  }

  /**
   * A producer's value (or key) serializer: `log.producer({ serializers: { value: serde.serializer() } })`.
   * Writes Confluent's wire format with the subject's latest schema (TopicNameStrategy unless
   * `subject` says), a version or a fixed id; answers at once when the schema is cached, so
   * only the first record of a subject (and one per `latestTtlMs`) waits for the registry.
   */
  serializer<T = unknown>(options: SerializerOptions = {}): Serializer<T> {
    const version = options.version ?? 'latest'
    const subjectOf = typeof options.subject === 'function' ? options.subject
      : options.subject !== undefined ? () => options.subject as string : topicNameStrategy
    // The subject of the last topic seen (a producer mostly writes one topic per serializer).
    let last = { topic: '', isKey: false, subject: '' }
    return (value, { topic, isKey }) => {
      if (options.id === undefined && (topic !== last.topic || isKey !== last.isKey)) last = { topic, isKey, subject: subjectOf(topic, isKey) }
      const subject = options.id === undefined ? last.subject : ''
      const id = options.id ?? this.knownIdOf(subject, version)
      const schema = id === undefined ? undefined : this.parsed.get(id)
      if (schema) return encodeWith(schema, value, id)
      return this.encode(options.id !== undefined ? { id: options.id } : { subject, version }, value)
    }
  }

  /**
   * A consumer's value (or key) deserializer: `log.consumer({ groupId, deserializers: { value: serde.deserializer() } })`.
   * Reads the schema id of each record (fetched once per id), with `reader` as that schema reads it.
   */
  deserializer<T = unknown>(options: { reader?: ParsedSchema } = {}): Deserializer<T> {
    const reader = options.reader
    return (bytes) => {
      const id = wireId(bytes)
      const schema = this.parsed.get(id)
      // Avro reads the payload in place, after the 5-byte header (no view of it made per record).
      if (schema) {
        if (schema.type === 'AVRO' && (!reader || reader.type === 'AVRO')) return avroDecode(schema.avro!, bytes, reader?.avro ?? schema.avro!, 5) as T
        return decodeWith(schema, bytes.subarray(5), reader) as T
      }
      return this.schema(id).then((s) => decodeWith(s, bytes.subarray(5), reader) as T)
    }
  }

  /** Encodes `value` in Confluent's wire format with the target's schema; INVALID_VALUE when it does not match. */
  async encode(target: EncodeTarget, value: unknown): Promise<Uint8Array> {
    const id = typeof target === 'string' ? await this.idOf(target)
      : 'id' in target ? target.id : await this.idOf(target.subject, target.version ?? 'latest')
    const schema = await this.schema(id)
    return encodeWith(schema, value, id)
  }

  /** Decodes a wire-format value; with `reader`, as that schema reads it (Avro resolution). */
  async decode(bytes: Uint8Array, options: { reader?: ParsedSchema } = {}): Promise<unknown> {
    const { id, payload } = decodeWireFormat(bytes)
    const schema = await this.schema(id)
    return decodeWith(schema, payload, options.reader)
  }

  /** KafkaJS messages with their values (and keys, with `keySubject`) encoded, for `producer.send`. */
  async encodeMessages(subject: EncodeTarget, messages: Array<Omit<Message, 'value'> & { value: unknown }>, options: { keySubject?: EncodeTarget } = {}): Promise<Message[]> {
    return Promise.all(messages.map(async (m) => ({
      ...m,
      key: options.keySubject && m.key !== undefined && m.key !== null ? await this.encode(options.keySubject, m.key) : m.key,
      value: m.value === null ? null : await this.encode(subject, m.value),
    } as Message)))
  }

  private async parseWithReferences(s: SchemaById): Promise<ParsedSchema> {
    const found = new Map<string, SubjectVersion>()
    const load = async (refs: SchemaReference[] | undefined) => {
      for (const ref of refs ?? []) {
        const key = `${ref.subject}/${ref.version}`
        if (found.has(key)) continue
        const v = await this.source.getVersion(ref.subject, ref.version)
        found.set(key, v)
        await load(v.references)
      }
    }
    await load(s.references)
    return parseSchema(s, (ref) => {
      const v = found.get(`${ref.subject}/${ref.version}`)
      if (!v) throw new SchemaRegistryError('SCHEMA_NOT_FOUND', `Reference ${ref.subject}/${ref.version} not found`)
      return v
    })
  }
}

/** The payload of `value` in `schema`; with `id`, the whole wire-format value (header and payload, one copy). */
export function encodeWith(schema: ParsedSchema, value: unknown, id?: number): Uint8Array {
  if (schema.type === 'AVRO') return avroEncode(schema.avro!, value, id === undefined ? undefined : wireHeader(id))
  const errors = jsonSchemaErrors(schema.json!, value)
  if (errors.length > 0) throw new SchemaRegistryError('INVALID_VALUE', `Value does not match the JSON schema: ${errors.slice(0, 5).join('; ')}`)
  const payload = encoder.encode(JSON.stringify(value))
  return id === undefined ? payload : encodeWireFormat(id, payload)
}

let lastHeader: { id: number; bytes: Uint8Array } = { id: -1, bytes: new Uint8Array(5) }
function wireHeader(id: number): Uint8Array {
  if (lastHeader.id !== id) lastHeader = { id, bytes: encodeWireFormat(id, new Uint8Array(0)) }
  return lastHeader.bytes
}

export function decodeWith(schema: ParsedSchema, payload: Uint8Array, reader?: ParsedSchema): unknown {
  if (schema.type === 'AVRO') {
    if (reader && reader.type !== 'AVRO') throw new SchemaRegistryError('INVALID_VALUE', 'An Avro record cannot be read with a JSON schema')
    return avroDecode(schema.avro!, payload, reader?.avro)
  }
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(payload))
  } catch (e) {
    throw new SchemaRegistryError('INVALID_VALUE', `Payload is not JSON: ${(e as Error).message}`)
  }
  const errors = jsonSchemaErrors((reader ?? schema).json!, value)
  if (errors.length > 0) throw new SchemaRegistryError('INVALID_VALUE', `Value does not match the JSON schema: ${errors.slice(0, 5).join('; ')}`)
  return value
}
