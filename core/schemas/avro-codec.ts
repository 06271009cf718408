/**
 * Avro's binary encoding, without a library (no code generation, no Buffer): values as avsc
 * gives them by default — records as plain objects, unions unwrapped (the branch is chosen by
 * the value), longs as numbers (exact to 2^53), bytes and fixed as Uint8Array — so a record
 * encoded here decodes with avsc and the Confluent client, and the other way round. Decoding
 * with a reader schema other than the writer's follows Avro's resolution rules.
 */
import { SchemaRegistryError } from './errors.ts'
import { avroReadable, describe, type AvroType } from './avro.ts'

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

function badValue(message: string): never {
  throw new SchemaRegistryError('INVALID_VALUE', message)
}

class Writer {
  buf = new Uint8Array(256)
  pos = 0
  private view = new DataView(this.buf.buffer)
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.pos + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = new DataView(next.buffer)
  }
  byte(b: number): void { this.ensure(1); this.buf[this.pos++] = b }
  long(n: number): void {
    // zig-zag varint over a JS number (exact to 2^53)
    let z = n >= 0 ? n * 2 : -n * 2 - 1
    this.ensure(10)
    while (z >= 0x80) {
      this.buf[this.pos++] = (z % 0x80) | 0x80
      z = Math.floor(z / 0x80)
    }
    this.buf[this.pos++] = z
  }
  float(n: number): void { this.ensure(4); this.view.setFloat32(this.pos, n, true); this.pos += 4 }
  double(n: number): void { this.ensure(8); this.view.setFloat64(this.pos, n, true); this.pos += 8 }
  bytes(b: Uint8Array): void { this.long(b.length); this.raw(b) }
  raw(b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length }
  string(s: string): void { this.bytes(encoder.encode(s)) }
}

class Reader {
  pos = 0
  private readonly view: DataView
  constructor(readonly buf: Uint8Array) { this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength) }
  need(n: number): void { if (this.pos + n > this.buf.length) badValue('Avro payload is truncated') }
  byte(): number { this.need(1); return this.buf[this.pos++] }
  long(): number {
    let result = 0
    let scale = 1
    for (let i = 0; ; i++) {
      if (i > 9) badValue('Avro varint is too long')
      const b = this.byte()
      result += (b & 0x7f) * scale
      scale *= 0x80
      if ((b & 0x80) === 0) break
    }
    return result % 2 === 0 ? result / 2 : -(result + 1) / 2
  }
  float(): number { this.need(4); const v = this.view.getFloat32(this.pos, true); this.pos += 4; return v }
  double(): number { this.need(8); const v = this.view.getFloat64(this.pos, true); this.pos += 8; return v }
  fixed(n: number): Uint8Array { this.need(n); const v = this.buf.slice(this.pos, this.pos + n); this.pos += n; return v }
  bytes(): Uint8Array {
    const n = this.long()
    if (n < 0) badValue('Avro payload has a negative length')
    return this.fixed(n)
  }
  string(): string {
    try { return decoder.decode(this.bytes()) } catch (e) { if (e instanceof SchemaRegistryError) throw e; return badValue('Avro string is not UTF-8') }
  }
}

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

/** Encodes `value` with `type`; INVALID_VALUE naming the path when it does not match. */
export function avroEncode(type: AvroType, value: unknown): Uint8Array {
  const w = new Writer()
  write(w, type, value, '$')
  return w.buf.slice(0, w.pos)
}

function write(w: Writer, type: AvroType, value: unknown, path: string): void {
  const bad = () => badValue(`${path}: ${JSON.stringify(value, (_k, v) => (v instanceof Uint8Array ? `<${v.length} bytes>` : v)) ?? String(value)} is not a valid ${describe(type)}`)
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
        items.forEach((v, i) => write(w, type.items, v, `${path}[${i}]`))
      }
      w.long(0)
      return
    }
    case 'map': {
      if (!isRecordObject(value)) bad()
      const entries = Object.entries(value as Record<string, unknown>)
      if (entries.length > 0) {
        w.long(entries.length)
        for (const [k, v] of entries) { w.string(k); write(w, type.values, v, `${path}.${k}`) }
      }
      w.long(0)
      return
    }
    case 'union': {
      const i = type.types.findIndex((t) => avroIsValid(t, value))
      if (i < 0) bad()
      w.long(i)
      write(w, type.types[i], value, path)
      return
    }
    case 'record': {
      if (!isRecordObject(value)) bad()
      for (const f of type.fields) {
        let v = (value as Record<string, unknown>)[f.name]
        if (v === undefined) {
          if (!f.hasDefault) badValue(`${path}.${f.name}: missing, and the field has no default`)
          v = defaultValue(f.type, f.default)
        }
        write(w, f.type, v, `${path}.${f.name}`)
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
export function avroDecode(writer: AvroType, bytes: Uint8Array, reader: AvroType = writer): unknown {
  if (reader !== writer) {
    const problems = avroReadable(reader, writer)
    if (problems.length > 0) badValue(`the reader's schema cannot read this record: ${problems.map((p) => p.message).join('; ')}`)
  }
  const r = new Reader(bytes)
  const value = read(r, writer, reader)
  if (r.pos !== bytes.length) badValue(`Avro payload has ${bytes.length - r.pos} bytes after the value`)
  return value
}

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
        for (let i = 0; i < n; i++) { const k = r.string(); out[k] = read(r, writer.values, values) }
      }
      return out
    }
    case 'record': {
      const target = reader as Extract<AvroType, { type: 'record' }>
      const out: Record<string, unknown> = {}
      for (const wf of writer.fields) {
        const rf = target.fields.find((f) => f.name === wf.name) ?? target.fields.find((f) => f.aliases.includes(wf.name))
        if (rf) out[rf.name] = read(r, wf.type, rf.type)
        else skip(r, wf.type)
      }
      if (target === writer) return out
      const ordered: Record<string, unknown> = {}
      for (const rf of target.fields) ordered[rf.name] = rf.name in out ? out[rf.name] : defaultValue(rf.type, rf.default)
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
