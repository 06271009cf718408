/**
 * Avro schemas without a library: a parser that checks what Apache Avro's Java parser checks
 * (names, namespaces, duplicate names, unknown types, field defaults against their types), and
 * the schema-resolution rules of the Avro specification as compatibility checks (Avro's own
 * SchemaCompatibility: promotions, unions, enums and their defaults, aliases, fields added or
 * removed with or without defaults). Written here, not with avsc, so that it runs in any
 * runtime, including workerd, where code generation (avsc's `new Function`) is not allowed.
 */
import { SchemaRegistryError } from './errors.ts'

export type AvroPrimitiveName = 'null' | 'boolean' | 'int' | 'long' | 'float' | 'double' | 'bytes' | 'string'
export const AVRO_PRIMITIVES: readonly AvroPrimitiveName[] = ['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string']

export interface AvroField {
  name: string
  type: AvroType
  hasDefault: boolean
  default?: unknown
  aliases: string[]
}

export type AvroType =
  | { type: AvroPrimitiveName; logicalType?: string }
  | { type: 'record'; name: string; aliases: string[]; fields: AvroField[] }
  | { type: 'enum'; name: string; aliases: string[]; symbols: string[]; default?: string }
  | { type: 'fixed'; name: string; aliases: string[]; size: number; logicalType?: string }
  | { type: 'array'; items: AvroType }
  | { type: 'map'; values: AvroType }
  | { type: 'union'; types: AvroType[] }

type Named = Extract<AvroType, { name: string }>

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function invalid(message: string): never {
  throw new SchemaRegistryError('INVALID_SCHEMA', `Invalid Avro schema: ${message}`)
}

function fullName(name: string, namespace: string | undefined): string {
  if (name.includes('.')) return name
  return namespace ? `${namespace}.${name}` : name
}

function checkFullName(full: string, what: string): void {
  for (const part of full.split('.')) if (!NAME.test(part)) invalid(`${what} '${full}' is not a valid Avro name`)
}

function spaceOf(full: string): string | undefined {
  const i = full.lastIndexOf('.')
  return i < 0 ? undefined : full.slice(0, i)
}

/** Named types seen so far (shared with referenced schemas). */
export type AvroNames = Map<string, Named>

/**
 * Parses an Avro schema (its JSON text). `names` holds named types from
 * referenced schemas (Confluent's schema references); types defined here are added to it.
 */
export function parseAvro(schema: string, names: AvroNames = new Map()): AvroType {
  let json: unknown
  try {
    json = JSON.parse(schema)
  } catch (e) {
    invalid(`not JSON (${(e as Error).message})`)
  }
  return parseAvroValue(json, names)
}

/** parseAvro for the schema's parsed JSON value (a primitive is then the string itself: 'string'). */
export function parseAvroValue(json: unknown, names: AvroNames = new Map()): AvroType {
  const pending: Array<() => void> = []
  const type = parseType(json, undefined, names, pending)
  // Defaults are checked once every named type is known (a field may use a type defined later).
  for (const check of pending) check()
  return type
}

function parseType(json: unknown, namespace: string | undefined, names: AvroNames, pending: Array<() => void>): AvroType {
  if (typeof json === 'string') {
    if ((AVRO_PRIMITIVES as readonly string[]).includes(json)) return { type: json as AvroPrimitiveName }
    const found = names.get(fullName(json, namespace)) ?? names.get(json)
    if (!found) invalid(`unknown type '${json}'`)
    return found
  }
  if (Array.isArray(json)) {
    if (json.length === 0) invalid('a union needs at least one branch')
    const types = json.map((t) => parseType(t, namespace, names, pending))
    const seen = new Set<string>()
    for (const t of types) {
      if (t.type === 'union') invalid('unions may not immediately contain other unions')
      const key = 'name' in t ? t.name : t.type
      if (seen.has(key)) invalid(`union has more than one branch of type '${key}'`)
      seen.add(key)
    }
    return { type: 'union', types }
  }
  if (typeof json !== 'object' || json === null) invalid(`a type must be a name, an object or an array, got ${JSON.stringify(json)}`)
  const o = json as Record<string, unknown>
  const t = o.type
  if (typeof t === 'string' && (AVRO_PRIMITIVES as readonly string[]).includes(t)) {
    return typeof o.logicalType === 'string' ? { type: t as AvroPrimitiveName, logicalType: o.logicalType } : { type: t as AvroPrimitiveName }
  }
  switch (t) {
    case 'record': case 'error': return parseRecord(o, namespace, names, pending)
    case 'enum': {
      const named = defineName(o, namespace, names)
      if (!Array.isArray(o.symbols) || o.symbols.some((s) => typeof s !== 'string' || !NAME.test(s))) invalid(`enum '${named.name}' needs symbols that are Avro names`)
      const symbols = o.symbols as string[]
      if (new Set(symbols).size !== symbols.length) invalid(`enum '${named.name}' has duplicate symbols`)
      if (o.default !== undefined && (typeof o.default !== 'string' || !symbols.includes(o.default))) invalid(`enum '${named.name}' default ${JSON.stringify(o.default)} is not one of its symbols`)
      const type: AvroType = { type: 'enum', name: named.name, aliases: named.aliases, symbols, ...(o.default !== undefined ? { default: o.default as string } : {}) }
      names.set(named.name, type)
      return type
    }
    case 'fixed': {
      const named = defineName(o, namespace, names)
      if (!Number.isInteger(o.size) || (o.size as number) < 0) invalid(`fixed '${named.name}' needs a non-negative integer size`)
      const type: AvroType = { type: 'fixed', name: named.name, aliases: named.aliases, size: o.size as number, ...(typeof o.logicalType === 'string' ? { logicalType: o.logicalType } : {}) }
      names.set(named.name, type)
      return type
    }
    case 'array':
      if (o.items === undefined) invalid('an array needs items')
      return { type: 'array', items: parseType(o.items, namespace, names, pending) }
    case 'map':
      if (o.values === undefined) invalid('a map needs values')
      return { type: 'map', values: parseType(o.values, namespace, names, pending) }
    default:
      // { "type": "SomeNamedType" } or { "type": ["null", …] } or { "type": { … } }
      if (typeof t === 'string' || Array.isArray(t) || (typeof t === 'object' && t !== null)) return parseType(t, namespace, names, pending)
      invalid(`unknown type ${JSON.stringify(t)}`)
  }
}

function defineName(o: Record<string, unknown>, namespace: string | undefined, names: AvroNames): { name: string; aliases: string[] } {
  if (typeof o.name !== 'string' || o.name === '') invalid(`a ${String(o.type)} needs a name`)
  if (o.namespace !== undefined && o.namespace !== null && typeof o.namespace !== 'string') invalid('namespace must be a string')
  const ns = typeof o.namespace === 'string' && o.namespace !== '' ? o.namespace : namespace
  const name = fullName(o.name, ns)
  checkFullName(name, 'name')
  if ((AVRO_PRIMITIVES as readonly string[]).includes(name)) invalid(`'${name}' is a primitive type name and cannot be redefined`)
  if (names.has(name)) invalid(`'${name}' is defined twice`)
  if (o.aliases !== undefined && (!Array.isArray(o.aliases) || o.aliases.some((a) => typeof a !== 'string'))) invalid(`aliases of '${name}' must be strings`)
  const aliases = ((o.aliases as string[] | undefined) ?? []).map((a) => fullName(a, spaceOf(name)))
  for (const a of aliases) checkFullName(a, 'alias')
  return { name, aliases }
}

function parseRecord(o: Record<string, unknown>, namespace: string | undefined, names: AvroNames, pending: Array<() => void>): AvroType {
  const named = defineName(o, namespace, names)
  if (!Array.isArray(o.fields)) invalid(`record '${named.name}' needs fields`)
  const record: Extract<AvroType, { type: 'record' }> = { type: 'record', name: named.name, aliases: named.aliases, fields: [] }
  names.set(named.name, record) // before the fields: a record may refer to itself
  const inner = spaceOf(named.name)
  const seen = new Set<string>()
  for (const f of o.fields as unknown[]) {
    if (typeof f !== 'object' || f === null || Array.isArray(f)) invalid(`record '${named.name}' has a field that is not an object`)
    const field = f as Record<string, unknown>
    if (typeof field.name !== 'string' || !NAME.test(field.name)) invalid(`record '${named.name}' has a field without a valid name (${JSON.stringify(field.name)})`)
    if (seen.has(field.name)) invalid(`record '${named.name}' has two fields named '${field.name}'`)
    seen.add(field.name)
    if (field.type === undefined) invalid(`field '${named.name}.${field.name}' has no type`)
    const type = parseType(field.type, inner, names, pending)
    const hasDefault = Object.hasOwn(field, 'default')
    const parsed: AvroField = { name: field.name, type, hasDefault, aliases: Array.isArray(field.aliases) ? (field.aliases as unknown[]).filter((a): a is string => typeof a === 'string') : [] }
    if (hasDefault) {
      parsed.default = field.default
      pending.push(() => {
        const problem = defaultProblem(type, field.default)
        if (problem) invalid(`default of field '${named.name}.${field.name}' ${problem}`)
      })
    }
    record.fields.push(parsed)
  }
  return record
}

/** Why a default value does not fit its type (Avro's rule: a union's default fits its first branch), or undefined. */
export function defaultProblem(type: AvroType, value: unknown): string | undefined {
  const ok = (v: boolean) => (v ? undefined : `${JSON.stringify(value)} is not a valid ${type.type}`)
  switch (type.type) {
    case 'null': return ok(value === null)
    case 'boolean': return ok(typeof value === 'boolean')
    case 'int': return ok(Number.isInteger(value) && (value as number) >= -0x80000000 && (value as number) <= 0x7fffffff)
    case 'long': return ok(Number.isInteger(value))
    case 'float': case 'double': return ok(typeof value === 'number')
    case 'bytes': return ok(typeof value === 'string')
    case 'fixed': return ok(typeof value === 'string' && value.length === type.size)
    case 'string': return ok(typeof value === 'string')
    case 'enum': return ok(typeof value === 'string' && type.symbols.includes(value))
    case 'array': return Array.isArray(value) ? value.map((v) => defaultProblem(type.items, v)).find(Boolean) : ok(false)
    case 'map': return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? Object.values(value).map((v) => defaultProblem(type.values, v)).find(Boolean) : ok(false)
    case 'union': {
      const first = defaultProblem(type.types[0], value)
      return first === undefined ? undefined : `${JSON.stringify(value)} does not match the union's first branch (${describe(type.types[0])})`
    }
    case 'record': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return ok(false)
      for (const f of type.fields) {
        const v = (value as Record<string, unknown>)[f.name]
        if (v === undefined) { if (!f.hasDefault) return `lacks field '${f.name}'`; continue }
        const p = defaultProblem(f.type, v)
        if (p) return p
      }
      return undefined
    }
  }
}

export function describe(type: AvroType): string {
  if ('name' in type) return type.name
  if (type.type === 'array') return `array<${describe(type.items)}>`
  if (type.type === 'map') return `map<${describe(type.values)}>`
  if (type.type === 'union') return `[${type.types.map(describe).join(', ')}]`
  return type.type
}

// ------------------------------------------------------------------------ compatibility

/** Avro's SchemaIncompatibilityType names, as Confluent reports them. */
export type AvroIncompatibility =
  | 'NAME_MISMATCH' | 'FIXED_SIZE_MISMATCH' | 'MISSING_ENUM_SYMBOLS' | 'READER_FIELD_MISSING_DEFAULT_VALUE'
  | 'TYPE_MISMATCH' | 'MISSING_UNION_BRANCH'

export interface Incompatibility {
  type: AvroIncompatibility | string
  /** JSON-pointer-like location in the reader schema. */
  location: string
  message: string
}

const PROMOTIONS: Record<string, string[]> = {
  int: ['long', 'float', 'double'],
  long: ['float', 'double'],
  float: ['double'],
  string: ['bytes'],
  bytes: ['string'],
}

function unqualified(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1)
}

/** Avro Java's rule: the unqualified names match, or the reader has an alias for the writer's name. */
function namesMatch(reader: Named, writer: Named): boolean {
  return unqualified(reader.name) === unqualified(writer.name) || reader.aliases.includes(writer.name) || reader.aliases.some((a) => unqualified(a) === unqualified(writer.name))
}

/**
 * Can data written with `writer` be read with `reader` (the Avro specification's schema
 * resolution)? The list of what cannot, empty when compatible.
 */
export function avroReadable(reader: AvroType, writer: AvroType): Incompatibility[] {
  const out: Incompatibility[] = []
  check(reader, writer, '', new Set(), out)
  return out
}

function check(reader: AvroType, writer: AvroType, at: string, inProgress: Set<string>, out: Incompatibility[]): void {
  const fail = (type: Incompatibility['type'], message: string) => out.push({ type, location: at || '/', message })
  if (reader.type === writer.type) {
    switch (reader.type) {
      case 'record': {
        const w = writer as Extract<AvroType, { type: 'record' }>
        if (!namesMatch(reader, w)) return void fail('NAME_MISMATCH', `expected ${w.name}, found ${reader.name}`)
        const pair = `${reader.name}|${w.name}`
        if (inProgress.has(pair)) return // recursive types: assumed compatible while being checked
        inProgress.add(pair)
        reader.fields.forEach((rf, i) => {
          const wf = w.fields.find((f) => f.name === rf.name) ?? w.fields.find((f) => rf.aliases.includes(f.name))
          const here = `${at}/fields/${i}`
          if (!wf) {
            if (!rf.hasDefault) fail('READER_FIELD_MISSING_DEFAULT_VALUE', `field '${rf.name}' of ${reader.name} is not in the writer's schema and has no default`)
          } else {
            check(rf.type, wf.type, `${here}/type`, inProgress, out)
          }
        })
        inProgress.delete(pair)
        return
      }
      case 'enum': {
        const w = writer as Extract<AvroType, { type: 'enum' }>
        if (!namesMatch(reader, w)) return void fail('NAME_MISMATCH', `expected ${w.name}, found ${reader.name}`)
        const missing = w.symbols.filter((s) => !reader.symbols.includes(s))
        if (missing.length > 0 && reader.default === undefined) fail('MISSING_ENUM_SYMBOLS', `the reader's ${reader.name} lacks symbols [${missing.join(', ')}] and has no default`)
        return
      }
      case 'fixed': {
        const w = writer as Extract<AvroType, { type: 'fixed' }>
        if (!namesMatch(reader, w)) return void fail('NAME_MISMATCH', `expected ${w.name}, found ${reader.name}`)
        if (w.size !== reader.size) fail('FIXED_SIZE_MISMATCH', `expected size ${w.size}, found ${reader.size} (${reader.name})`)
        return
      }
      case 'array': return check(reader.items, (writer as Extract<AvroType, { type: 'array' }>).items, `${at}/items`, inProgress, out)
      case 'map': return check(reader.values, (writer as Extract<AvroType, { type: 'map' }>).values, `${at}/values`, inProgress, out)
      case 'union': {
        // Every branch the writer may have used must be readable by some branch of the reader.
        (writer as Extract<AvroType, { type: 'union' }>).types.forEach((wb, i) => {
          if (!reader.types.some((rb) => avroReadableQuiet(rb, wb, inProgress))) {
            fail('MISSING_UNION_BRANCH', `the reader's union lacks a branch for the writer's branch ${i} (${describe(wb)})`)
          }
        })
        return
      }
      default: return // the same primitive
    }
  }
  if (writer.type === 'union') {
    writer.types.forEach((wb, i) => {
      if (!avroReadableQuiet(reader, wb, inProgress)) fail('MISSING_UNION_BRANCH', `the reader's ${describe(reader)} cannot read the writer's union branch ${i} (${describe(wb)})`)
    })
    return
  }
  if (reader.type === 'union') {
    if (!reader.types.some((rb) => avroReadableQuiet(rb, writer, inProgress))) fail('MISSING_UNION_BRANCH', `the reader's union has no branch for the writer's ${describe(writer)}`)
    return
  }
  if (PROMOTIONS[writer.type]?.includes(reader.type)) return
  fail('TYPE_MISMATCH', `the reader's ${describe(reader)} cannot read the writer's ${describe(writer)}`)
}

function avroReadableQuiet(reader: AvroType, writer: AvroType, inProgress: Set<string>): boolean {
  const out: Incompatibility[] = []
  check(reader, writer, '', new Set(inProgress), out)
  return out.length === 0
}

// ------------------------------------------------------------------------ canonical form

/**
 * The identity of a schema for "is this the same schema": its JSON with object keys sorted
 * and no whitespace (docs and defaults kept: they change what the schema means to a reader).
 */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}
