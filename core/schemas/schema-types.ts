/**
 * The schema types the registry knows (AVRO, JSON), their parsing with references, their
 * identity ("is this the same schema"), and the seven compatibility levels.
 */
import { avroReadable, parseAvro, parseAvroValue, stableJson, type AvroNames, type AvroType, type Incompatibility } from './avro.ts'
import { SchemaRegistryError } from './errors.ts'
import { jsonSchemaReadable, parseJsonSchema, type JsonSchema } from './json-schema.ts'

export type SchemaType = 'AVRO' | 'JSON'
export const SCHEMA_TYPES: readonly SchemaType[] = ['AVRO', 'JSON']

export interface SchemaReference { name: string; subject: string; version: number }

/** What a client sends: Confluent's register/lookup body. */
export interface SchemaInput {
  schema: string
  /** Absent means AVRO, as in Confluent's API. */
  schemaType?: string
  references?: SchemaReference[]
}

export interface ParsedSchema {
  type: SchemaType
  /** The schema text as stored and served (minified JSON, keys in the writer's order). */
  text: string
  /** Identity for "same schema": type, key-sorted JSON, references. */
  identity: string
  references: SchemaReference[]
  avro?: AvroType
  json?: JsonSchema
}

export const COMPATIBILITY_LEVELS = ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'] as const
export type CompatibilityLevel = typeof COMPATIBILITY_LEVELS[number]
export const DEFAULT_COMPATIBILITY: CompatibilityLevel = 'BACKWARD'

export function compatibilityLevelOf(raw: unknown): CompatibilityLevel {
  const level = typeof raw === 'string' ? raw.toUpperCase() : raw
  if (!(COMPATIBILITY_LEVELS as readonly unknown[]).includes(level)) {
    throw new SchemaRegistryError('INVALID_COMPATIBILITY_LEVEL', `Invalid compatibility level ${JSON.stringify(raw)}: one of ${COMPATIBILITY_LEVELS.join(', ')}`)
  }
  return level as CompatibilityLevel
}

export function schemaTypeOf(raw: unknown): SchemaType {
  if (raw === undefined || raw === null || raw === '') return 'AVRO'
  const t = typeof raw === 'string' ? raw.toUpperCase() : raw
  if (t === 'AVRO' || t === 'JSON') return t
  if (t === 'PROTOBUF') throw new SchemaRegistryError('INVALID_SCHEMA', 'Schema type PROTOBUF is not supported by this registry (AVRO and JSON are)')
  throw new SchemaRegistryError('INVALID_SCHEMA', `Unknown schema type ${JSON.stringify(raw)}: AVRO or JSON`)
}

/** A referenced schema, as the registry finds it (subject and version). */
export type ReferenceResolver = (ref: SchemaReference) => { schema: string; schemaType?: string; references?: SchemaReference[] }

export function validateReferences(raw: unknown): SchemaReference[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw new SchemaRegistryError('INVALID_SCHEMA', 'references must be an array of { name, subject, version }')
  return raw.map((r, i) => {
    const ref = r as Record<string, unknown>
    if (typeof ref?.name !== 'string' || typeof ref.subject !== 'string' || !Number.isInteger(ref.version)) {
      throw new SchemaRegistryError('INVALID_SCHEMA', `references[${i}] must be { name: string, subject: string, version: integer }`)
    }
    return { name: ref.name, subject: ref.subject, version: ref.version as number }
  })
}

/** Parses a schema (and, for Avro, the named types of its references, depth first). */
export function parseSchema(input: SchemaInput, resolve: ReferenceResolver = () => { throw new SchemaRegistryError('INVALID_SCHEMA', 'references are not available here') }): ParsedSchema {
  if (typeof input?.schema !== 'string' || input.schema.trim() === '') throw new SchemaRegistryError('INVALID_SCHEMA', 'schema must be a non-empty string')
  const type = schemaTypeOf(input.schemaType)
  const references = validateReferences(input.references)
  let json: unknown
  try {
    json = JSON.parse(input.schema)
  } catch (e) {
    throw new SchemaRegistryError('INVALID_SCHEMA', `Invalid ${type === 'AVRO' ? 'Avro' : 'JSON'} schema: not JSON (${(e as Error).message})`)
  }
  const text = JSON.stringify(json)
  const identity = `${type}|${stableJson(json)}|${stableJson(references)}`
  if (type === 'AVRO') {
    const names: AvroNames = new Map()
    loadAvroReferences(references, resolve, names, new Set())
    return { type, text, identity, references, avro: parseAvroValue(json, names) }
  }
  for (const ref of references) resolve(ref) // each must exist
  return { type, text, identity, references, json: parseJsonSchema(json) }
}

function loadAvroReferences(refs: SchemaReference[], resolve: ReferenceResolver, names: AvroNames, seen: Set<string>): void {
  for (const ref of refs) {
    const key = `${ref.subject}/${ref.version}`
    if (seen.has(key)) continue
    seen.add(key)
    const found = resolve(ref)
    if (schemaTypeOf(found.schemaType) !== 'AVRO') throw new SchemaRegistryError('INVALID_SCHEMA', `reference '${ref.name}' (${key}) is not an Avro schema`)
    loadAvroReferences(found.references ?? [], resolve, names, seen)
    // A type already known through another path is defined once.
    const scratch: AvroNames = new Map(names)
    try {
      parseAvro(found.schema, scratch)
    } catch (e) {
      throw new SchemaRegistryError('INVALID_SCHEMA', `reference '${ref.name}' (${key}): ${(e as Error).message}`)
    }
    for (const [k, v] of scratch) names.set(k, v)
  }
}

/** Why data written with `writer` cannot be read with `reader` (empty: it can). */
export function readable(reader: ParsedSchema, writer: ParsedSchema): Incompatibility[] {
  if (reader.type !== writer.type) return [{ type: 'SCHEMA_TYPE_CHANGED', location: '/', message: `Incompatible because of different schema type (${writer.type} to ${reader.type})` }]
  return reader.type === 'AVRO' ? avroReadable(reader.avro!, writer.avro!) : jsonSchemaReadable(reader.json!, writer.json!)
}

/**
 * Confluent's seven levels. `previous` is the subject's live versions, oldest first; the
 * non-transitive levels look at the latest only. Returns messages, empty when compatible.
 */
export function checkCompatibility(level: CompatibilityLevel, candidate: ParsedSchema, previous: ParsedSchema[]): string[] {
  if (level === 'NONE' || previous.length === 0) return []
  const against = level.endsWith('_TRANSITIVE') ? [...previous].reverse() : [previous[previous.length - 1]]
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL')
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL')
  const messages: string[] = []
  for (const old of against) {
    if (backward) for (const p of readable(candidate, old)) messages.push(`{errorType:'${p.type}', description:'The new schema cannot read data written by an earlier one: ${p.message}', location:'${p.location}'}`)
    if (forward) for (const p of readable(old, candidate)) messages.push(`{errorType:'${p.type}', description:'An earlier schema cannot read data written by the new one: ${p.message}', location:'${p.location}'}`)
    if (messages.length > 0) break
  }
  return messages
}
