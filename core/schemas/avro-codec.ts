/**
 * Avro's binary encoding, without a library (no code generation, no Buffer): values as avsc
 * gives them by default — records as plain objects, unions unwrapped (the branch is chosen by
 * the value), longs as numbers (exact to 2^53), bytes and fixed as Uint8Array — so a record
 * encoded here decodes with avsc and the Confluent client, and the other way round. Decoding
 * with a reader schema other than the writer's follows Avro's resolution rules.
 */
import { badValue, decoder, encoder, Reader, Writer } from './avro-io.ts'
import { avroReadable, describe, type AvroType } from './avro.ts'

const isRecordObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

/** Whether `value` is a valid instance of `type` (avsc's `isValid`, unwrapped unions). */
export function avroIsValid(type: AvroType, value: unknown): boolean {
  switch (type.type) {
    case 'null': return value === null
    case 'boolean': return typeof value === 'boolean'
    case 'int': return Number.isInteger(value) && (value as number) >= -0x80000000 && (value as number) <= 0x7fffffff
    case 'long': return Number.isSafeInteger(value)
    case 'float': case 'double': return typeof value === 'number'
    case 'bytes': return value instanceof Uint8Array
    case 'fixed': return value instanceof Uint8Array && value.length === type.size
    case 'string': return typeof value === 'string'
    case 'enum': return typeof value === 'string' && type.symbols.includes(value)
    case 'array': return Array.isArray(value) && value.every((v) => avroIsValid(type.items, v))
    case 'map': return isRecordObject(value) && Object.values(value).every((v) => avroIsValid(type.values, v))
    case 'union': return type.types.some((t) => avroIsValid(t, value))
    case 'record': return isRecordObject(value) && type.fields.every((f) => {
      const v = value[f.name]
      return v === undefined ? f.hasDefault : avroIsValid(f.type, v)
    })
  }
}

/**
 * A value that does not match, on its way up: each enclosing record, array or map prepends its
 * part of the path as it passes (so no path is built unless something fails).
 */
class BadValue {
  readonly path: string[] = []
  constructor(readonly detail: string) {}
}

function within(e: unknown, part: string): unknown {
  if (e instanceof BadValue) e.path.push(part)
  return e
}

/** One writer for every encoding: encoding is synchronous, and the result is copied out. */
const shared = new Writer()

/**
 * Encodes `value` with `type`; INVALID_VALUE naming the path when it does not match. `prefix`
 * (Confluent's 5-byte header) is written first, so the wire format costs no second copy.
 */
export function avroEncode(type: AvroType, value: unknown, prefix?: Uint8Array): Uint8Array {
  const w = shared
  w.pos = 0
  try {
    if (prefix) w.raw(prefix)
    write(w, type, value)
  } catch (e) {
    if (e instanceof BadValue) badValue(`$${e.path.reverse().join('')}${e.detail}`)
    throw e
  }
  const out = w.buf.slice(0, w.pos)
  // After a very large value, the next ones start from a small buffer again.
  if (w.buf.length > 1 << 20) w.reset()
  return out
}

function write(w: Writer, type: AvroType, value: unknown): void {
  const bad = (): never => { throw new BadValue(`: ${JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(value)} is not a valid ${describe(type)}`) }
  switch (type.type) {
    case 'null': if (value !== null) bad(); return
    case 'boolean': if (typeof value !== 'boolean') bad(); w.byte(value ? 1 : 0); return
    case 'int': case 'long': if (!avroIsValid(type, value)) bad(); w.long(value as number); return
    case 'float': if (typeof value !== 'number') bad(); w.float(value as number); return
    case 'double': if (typeof value !== 'number') bad(); w.double(value as number); return
    case 'bytes': if (!(value instanceof Uint8Array)) bad(); w.bytes(value as Uint8Array); return
    case 'fixed': if (!avroIsValid(type, value)) bad(); w.raw(value as Uint8Array); return
    case 'string': if (typeof value !== 'string') bad(); w.string(value as string); return
    case 'enum': {
      const i = typeof value === 'string' ? type.symbols.indexOf(value) : -1
      if (i < 0) bad()
      w.long(i)
      return
    }
    case 'array': {
      if (!Array.isArray(value)) bad()
      const items = value as unknown[]
      if (items.length > 0) {
        w.long(items.length)
        for (let i = 0; i < items.length; i++) {
          try { write(w, type.items, items[i]) } catch (e) { throw within(e, `[${i}]`) }
        }
      }
      w.long(0)
      return
    }
    case 'map': {
      if (!isRecordObject(value)) bad()
      const entries = Object.entries(value as Record<string, unknown>)
      if (entries.length > 0) {
        w.long(entries.length)
        for (const [k, v] of entries) {
          w.string(k)
          try { write(w, type.values, v) } catch (e) { throw within(e, `.${k}`) }
        }
      }
      w.long(0)
      return
    }
    case 'union': {
      const i = type.types.findIndex((t) => avroIsValid(t, value))
      if (i < 0) bad()
      w.long(i)
      write(w, type.types[i], value)
      return
    }
    case 'record': {
      if (!isRecordObject(value)) bad()
      for (const f of type.fields) {
        let v = (value as Record<string, unknown>)[f.name]
        try {
          if (v === undefined) {
            if (!f.hasDefault) throw new BadValue(': missing, and the field has no default')
            v = defaultValue(f.type, f.default)
          }
          write(w, f.type, v)
        } catch (e) {
          throw within(e, `.${f.name}`)
        }
      }
      return
    }
  }
}

/** A field's JSON default as a value (bytes and fixed defaults are strings of code points 0–255). */
export function defaultValue(type: AvroType, json: unknown): unknown {
  switch (type.type) {
    case 'bytes': case 'fixed': return Uint8Array.from(String(json), (c) => c.charCodeAt(0) & 0xff)
    case 'union': return defaultValue(type.types[0], json)
    case 'array': return (json as unknown[]).map((v) => defaultValue(type.items, v))
    case 'map': return Object.fromEntries(Object.entries(json as Record<string, unknown>).map(([k, v]) => [k, defaultValue(type.values, v)]))
    case 'record': {
      const o = json as Record<string, unknown>
      return Object.fromEntries(type.fields.map((f) => [f.name, o[f.name] === undefined ? defaultValue(f.type, f.default) : defaultValue(f.type, o[f.name])]))
    }
    default: return json
  }
}

/**
 * Decodes bytes written with `writer`, as `reader` (default: the writer) sees them. An
 * unreadable combination is refused before reading (INVALID_VALUE listing why).
 */
export function avroDecode(writer: AvroType, bytes: Uint8Array, reader: AvroType = writer, start = 0): unknown {
  if (reader !== writer) {
    const problems = readability(reader, writer)
    if (problems.length > 0) badValue(`the reader's schema cannot read this record: ${problems.map((p) => p.message).join('; ')}`)
  }
  const r = sharedReader.reset(bytes, start)
  try {
    const value = reader === writer ? decoderOf(writer)(r) : read(r, writer, reader)
    if (r.pos !== bytes.length) badValue(`Avro payload has ${bytes.length - r.pos} bytes after the value`)
    return value
  } finally {
    r.reset(EMPTY, 0) // keep no reference to the caller's bytes
  }
}

/** Whether a reader can read a writer, worked out once per pair of parsed schemas (not per record). */
const readabilityCache = new WeakMap<AvroType, WeakMap<AvroType, ReturnType<typeof avroReadable>>>()
function readability(reader: AvroType, writer: AvroType): ReturnType<typeof avroReadable> {
  let byReader = readabilityCache.get(writer)
  if (!byReader) readabilityCache.set(writer, (byReader = new WeakMap()))
  let found = byReader.get(reader)
  if (!found) byReader.set(reader, (found = avroReadable(reader, writer)))
  return found
}

const EMPTY = new Uint8Array(0)
const sharedReader = new Reader()

function read(r: Reader, writer: AvroType, reader: AvroType): unknown {
  if (writer.type === 'union') {
    const i = r.long()
    const branch = writer.types[i]
    if (!branch) badValue(`union branch ${i} does not exist in ${describe(writer)}`)
    return read(r, branch, reader.type === 'union' && reader !== writer ? pickBranch(reader, branch) : reader === writer ? branch : reader)
  }
  if (reader.type === 'union') return read(r, writer, pickBranch(reader, writer))
  switch (writer.type) {
    case 'null': return null
    case 'boolean': return r.byte() !== 0
    case 'int': case 'long': return promote(r.long(), reader)
    case 'float': return promote(r.float(), reader)
    case 'double': return r.double()
    case 'bytes': { const b = r.bytes(); return reader.type === 'string' ? decoder.decode(b) : b }
    case 'string': { const s = r.string(); return reader.type === 'bytes' ? encoder.encode(s) : s }
    case 'fixed': return r.fixed(writer.size)
    case 'enum': {
      const i = r.long()
      const symbol = writer.symbols[i]
      if (symbol === undefined) badValue(`enum index ${i} does not exist in ${writer.name}`)
      const target = reader as Extract<AvroType, { type: 'enum' }>
      if (target.symbols.includes(symbol)) return symbol
      if (target.default !== undefined) return target.default
      return badValue(`symbol '${symbol}' is not in the reader's ${target.name}`)
    }
    case 'array': {
      const items = (reader as Extract<AvroType, { type: 'array' }>).items
      const out: unknown[] = []
      for (;;) {
        let n = r.long()
        if (n === 0) break
        if (n < 0) { n = -n; r.long() }
        for (let i = 0; i < n; i++) out.push(read(r, writer.items, items))
      }
      return out
    }
    case 'map': {
      const values = (reader as Extract<AvroType, { type: 'map' }>).values
      const out: Record<string, unknown> = {}
      for (;;) {
        let n = r.long()
        if (n === 0) break
        if (n < 0) { n = -n; r.long() }
        for (let i = 0; i < n; i++) { const k = r.string(); setOwn(out, k, read(r, writer.values, values)) }
      }
      return out
    }
    case 'record': {
      const target = reader as Extract<AvroType, { type: 'record' }>
      const out: Record<string, unknown> = {}
      if (target === writer) {
        for (const wf of writer.fields) out[wf.name] = read(r, wf.type, wf.type)
        return out
      }
      for (const wf of writer.fields) {
        const rf = target.fields.find((f) => f.name === wf.name) ?? target.fields.find((f) => f.aliases.includes(wf.name))
        if (rf) setOwn(out, rf.name, read(r, wf.type, rf.type))
        else skip(r, wf.type)
      }
      if (target === writer) return out
      const ordered: Record<string, unknown> = {}
      for (const rf of target.fields) setOwn(ordered, rf.name, Object.hasOwn(out, rf.name) ? out[rf.name] : defaultValue(rf.type, rf.default))
      return ordered
    }
  }
}

function promote(n: number, reader: AvroType): number {
  return reader.type === 'float' ? Math.fround(n) : n
}

function pickBranch(reader: Extract<AvroType, { type: 'union' }>, writer: AvroType): AvroType {
  const same = reader.types.find((t) => t.type === writer.type && (!('name' in t) || avroReadable(t, writer).length === 0))
  const found = same ?? reader.types.find((t) => avroReadable(t, writer).length === 0)
  if (!found) badValue(`the reader's union has no branch for ${describe(writer)}`)
  return found
}

function skip(r: Reader, type: AvroType): void {
  read(r, type, type)
}

/** A map key or field name from the data: `__proto__` becomes an own property, as in JSON.parse, not the prototype. */
function setOwn(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true })
  else o[k] = v
}

type Decode = (r: Reader) => unknown
const decoders = new WeakMap<AvroType, Decode>()

/**
 * Reading with the writer's own schema (the common case) through closures made once per
 * schema: no switch on the type and no reader-field lookup per value, as avsc compiles its
 * readers (without generating code, which workerd refuses).
 */
function decoderOf(type: AvroType): Decode {
  const known = decoders.get(type)
  if (known) return known
  let made: Decode | undefined
  // A recursive record meets itself while being made: it gets this forward reference.
  decoders.set(type, (r) => made!(r))
  made = makeDecoder(type)
  decoders.set(type, made)
  return made
}

function makeDecoder(type: AvroType): Decode {
  switch (type.type) {
    case 'null': return () => null
    case 'boolean': return (r) => r.byte() !== 0
    case 'int': case 'long': return (r) => r.long()
    case 'float': return (r) => r.float()
    case 'double': return (r) => r.double()
    case 'bytes': return (r) => r.bytes()
    case 'string': return (r) => r.string()
    case 'fixed': { const size = type.size; return (r) => r.fixed(size) }
    case 'enum': {
      const { symbols, name } = type
      return (r) => {
        const i = r.long()
        return i >= 0 && i < symbols.length ? symbols[i] : badValue(`enum index ${i} does not exist in ${name}`)
      }
    }
    case 'union': {
      const branches = type.types.map(decoderOf)
      return (r) => {
        const i = r.long()
        return i >= 0 && i < branches.length ? branches[i](r) : badValue(`union branch ${i} does not exist in ${describe(type)}`)
      }
    }
    case 'array': case 'map': {
      const item = decoderOf(type.type === 'array' ? type.items : type.values)
      const isArray = type.type === 'array'
      return (r) => {
        const out: unknown[] | Record<string, unknown> = isArray ? [] : {}
        for (;;) {
          let n = r.long()
          if (n === 0) return out
          if (n < 0) { n = -n; r.long() }
          for (let i = 0; i < n; i++) {
            if (isArray) (out as unknown[]).push(item(r))
            else setOwn(out as Record<string, unknown>, r.string(), item(r))
          }
        }
      }
    }
    case 'record': {
      const names = type.fields.map((f) => f.name)
      const fields = type.fields.map((f) => decoderOf(f.type))
      // Every record starts as a copy of one with all the fields: one shape, made at once.
      const template: Record<string, unknown> = Object.fromEntries(names.map((n) => [n, null]))
      return (r) => {
        const out = { ...template }
        for (let i = 0; i < fields.length; i++) out[names[i]] = fields[i](r)
        return out
      }
    }
  }
}
