/**
 * Confluent's wire format (magic byte 0, the schema id as a 4-byte big-endian integer, then
 * the payload: Avro binary, or JSON text for JSON Schema) and a serializer/deserializer over
 * any schema source — the in-process SchemaRegistry or a remote registry (RegistryClient) —
 * with schemas cached by id (forever: an id never changes meaning) and the latest id per
 * subject cached for `latestTtlMs`, so producing and consuming make no request per record.
 */
import type { Message } from '../client/messages.ts'
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
  if (!(bytes instanceof Uint8Array) || bytes.length < 5) throw new SchemaRegistryError('UNKNOWN_MAGIC_BYTE', `Not Confluent's wire format: ${bytes?.length ?? 0} bytes, at least 5 expected`)
  if (bytes[0] !== MAGIC_BYTE) throw new SchemaRegistryError('UNKNOWN_MAGIC_BYTE', `Unknown magic byte ${bytes[0]} (Confluent's wire format starts with 0)`)
  const id = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
  return { id, payload: bytes.subarray(5) }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export interface SerdeOptions {
  /** How long the latest id of a subject is trusted, in ms (default 60 s). */
  latestTtlMs?: number
  now?: () => number
}

export type EncodeTarget = string | { subject: string; version?: number | 'latest' } | { id: number }

export class SchemaSerde {
  private readonly byId = new Map<number, Promise<ParsedSchema>>()
  private readonly latest = new Map<string, { at: number; id: Promise<number> }>()
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
      p.catch(() => this.byId.delete(id))
    }
    return p
  }

  /** The id a subject's version (default latest) encodes with. */
  async idOf(subject: string, version: number | 'latest' = 'latest'): Promise<number> {
    if (version !== 'latest') return (await this.source.getVersion(subject, version)).id
    const cached = this.latest.get(subject)
    if (cached && this.now() - cached.at < this.ttl) return cached.id
    const id = this.source.getVersion(subject, 'latest').then((v) => v.id)
    this.latest.set(subject, { at: this.now(), id })
    id.catch(() => this.latest.delete(subject))
    return id
  }

  /** Encodes `value` in Confluent's wire format with the target's schema; INVALID_VALUE when it does not match. */
  async encode(target: EncodeTarget, value: unknown): Promise<Uint8Array> {
    const id = typeof target === 'string' ? await this.idOf(target)
      : 'id' in target ? target.id : await this.idOf(target.subject, target.version ?? 'latest')
    const schema = await this.schema(id)
    return encodeWireFormat(id, encodeWith(schema, value))
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

export function encodeWith(schema: ParsedSchema, value: unknown): Uint8Array {
  if (schema.type === 'AVRO') return avroEncode(schema.avro!, value)
  const errors = jsonSchemaErrors(schema.json!, value)
  if (errors.length > 0) throw new SchemaRegistryError('INVALID_VALUE', `Value does not match the JSON schema: ${errors.slice(0, 5).join('; ')}`)
  return encoder.encode(JSON.stringify(value))
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
