/**
 * The wire format and the serde: edgelog's Avro encoding is avsc's byte for byte (and the
 * Confluent client uses avsc), reading with another schema follows Avro's resolution, JSON
 * values are checked as ajv checks them, a producer and consumer carry wire-format records
 * through the log, schema lookups are cached, and bad bytes or values are typed errors.
 */
import avro from 'avsc'
import Ajv from 'ajv'
import { describe, expect, it } from 'vitest'
import { openLog } from '../../core/open-log.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import {
  SchemaRegistry, SchemaSerde, avroDecode, avroEncode, decodeWireFormat, encodeWireFormat, jsonSchemaErrors, parseAvro, parseSchema,
  type SchemaSource,
} from '../../core/schemas/index.ts'

const schema = {
  type: 'record', name: 'Event', namespace: 'ex',
  fields: [
    { name: 'id', type: 'long' }, { name: 'ok', type: 'boolean' }, { name: 'score', type: 'double' }, { name: 'ratio', type: 'float' },
    { name: 'name', type: 'string' }, { name: 'blob', type: 'bytes' }, { name: 'tag', type: { type: 'fixed', name: 'Tag', size: 4 } },
    { name: 'kind', type: { type: 'enum', name: 'Kind', symbols: ['A', 'B', 'C'] } },
    { name: 'items', type: { type: 'array', items: 'int' } }, { name: 'attrs', type: { type: 'map', values: 'string' } },
    { name: 'maybe', type: ['null', 'string', 'int'], default: null },
    { name: 'child', type: ['null', { type: 'record', name: 'Child', fields: [{ name: 'x', type: 'int' }] }], default: null },
  ],
}

function sample(i: number) {
  return {
    id: i * 1_000_003 - 500_000_000_000, ok: i % 2 === 0, score: i / 7, ratio: Math.fround(i / 3), name: `name-${i}-é✓`,
    blob: Uint8Array.from({ length: i % 5 }, (_, k) => k * 40), tag: Uint8Array.from([i, i + 1, i + 2, i + 3].map((b) => b & 0xff)),
    kind: ['A', 'B', 'C'][i % 3], items: Array.from({ length: i % 4 }, (_, k) => k - 2), attrs: i % 2 ? { a: 'x', [`k${i}`]: 'y' } : {},
    maybe: i % 3 === 0 ? null : i % 3 === 1 ? `m${i}` : i, child: i % 2 ? { x: i } : null,
  }
}

describe('Avro binary encoding', () => {
  const mine = parseAvro(JSON.stringify(schema))
  const theirs = avro.Type.forSchema(schema as avro.Schema)

  it('is avsc’s, byte for byte, both ways', () => {
    for (let i = 0; i < 60; i++) {
      const value = sample(i)
      const bytes = avroEncode(mine, value)
      const buf = theirs.toBuffer({ ...value, blob: Buffer.from(value.blob), tag: Buffer.from(value.tag) })
      expect(Buffer.from(bytes).equals(buf), `sample ${i}`).toBe(true)
      const back = avroDecode(mine, new Uint8Array(buf)) as ReturnType<typeof sample>
      expect({ ...back, blob: [...back.blob], tag: [...back.tag] }).toEqual({ ...value, blob: [...value.blob], tag: [...value.tag] })
    }
  })

  it('reads with a newer schema as Avro resolves it (defaults, promotions, removed fields, renamed by alias)', () => {
    const writer = parseAvro(JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }, { name: 'gone', type: 'string' }, { name: 'old', type: 'string' }] }))
    const reader = parseAvro(JSON.stringify({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }, { name: 'fresh', type: 'string', aliases: ['old'] }, { name: 'added', type: ['null', 'int'], default: null }] }))
    const bytes = avroEncode(writer, { a: 5, gone: 'x', old: 'y' })
    expect(avroDecode(writer, bytes, reader)).toEqual({ a: 5, fresh: 'y', added: null })
    const viaAvsc = avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'long' }, { name: 'fresh', type: 'string', aliases: ['old'] }, { name: 'added', type: ['null', 'int'], default: null }] } as avro.Schema)
    const resolver = viaAvsc.createResolver(avro.Type.forSchema({ type: 'record', name: 'R', fields: [{ name: 'a', type: 'int' }, { name: 'gone', type: 'string' }, { name: 'old', type: 'string' }] } as avro.Schema))
    expect({ ...viaAvsc.fromBuffer(Buffer.from(bytes), resolver) }).toEqual({ a: 5, fresh: 'y', added: null })
  })

  it('reads recursive records and negative-count blocks as avsc writes them', () => {
    const list = { type: 'record', name: 'Node', fields: [{ name: 'value', type: 'int' }, { name: 'next', type: ['null', 'Node'], default: null }, { name: 'tags', type: { type: 'map', values: { type: 'array', items: 'string' } } }] }
    const value = { value: 1, next: { value: 2, next: { value: 3, next: null, tags: {} }, tags: { a: ['x', 'ü'] } }, tags: { b: [] } }
    const buf = avro.Type.forSchema(list as avro.Schema).toBuffer(value)
    const mine = parseAvro(JSON.stringify(list))
    expect(avroDecode(mine, new Uint8Array(buf))).toEqual(value)
    expect(Buffer.from(avroEncode(mine, value)).equals(buf)).toBe(true)
    // A block written with a negative count (followed by its size in bytes), as Avro allows.
    const ints = parseAvro('{"type":"array","items":"int"}')
    expect(avroDecode(ints, Uint8Array.of(3, 2, 2, 4, 0))).toEqual([1, 2])
    expect(() => avroDecode(mine, Uint8Array.of(2, 4))).toThrow(expect.objectContaining({ code: 'INVALID_VALUE' }))
  })

  it('a map key or field named __proto__ is an own property of the decoded object, as JSON.parse makes it', () => {
    const map = parseAvro('{"type":"map","values":"int"}')
    const decoded = avroDecode(map, avroEncode(map, JSON.parse('{"__proto__":1,"a":2}'))) as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype)
    expect(Object.keys(decoded)).toEqual(['__proto__', 'a'])
    const rec = parseAvro('{"type":"record","name":"P","fields":[{"name":"__proto__","type":{"type":"map","values":"int"}}]}')
    const value = JSON.parse('{"__proto__":{"x":1}}')
    const back = avroDecode(rec, avroEncode(rec, value)) as Record<string, unknown>
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype)
    expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ x: 1 })
    const newer = parseAvro('{"type":"record","name":"P","fields":[{"name":"__proto__","type":{"type":"map","values":"long"}},{"name":"b","type":"int","default":0}]}')
    const resolved = avroDecode(rec, avroEncode(rec, value), newer) as Record<string, unknown>
    expect(Object.getPrototypeOf(resolved)).toBe(Object.prototype)
    expect(Object.keys(resolved)).toEqual(['__proto__', 'b'])
  })

  it('refuses values that do not match, naming the field', () => {
    expect(() => avroEncode(mine, { ...sample(1), kind: 'Z' })).toThrow(/\$\.kind/)
    expect(() => avroEncode(mine, { ...sample(1), id: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_VALUE' }))
    const { name: _omit, ...rest } = sample(2)
    expect(() => avroEncode(mine, rest)).toThrow(/\$\.name: missing/)
    expect(() => avroDecode(mine, Uint8Array.of(2))).toThrow(expect.objectContaining({ code: 'INVALID_VALUE' }))
  })
})

describe('JSON Schema values', () => {
  const ajv = new Ajv({ strict: false })
  const s = {
    type: 'object', required: ['id'], additionalProperties: false,
    properties: {
      id: { type: 'integer', minimum: 1 }, name: { type: 'string', maxLength: 5, pattern: '^[a-z]+$' }, tags: { type: 'array', items: { enum: ['x', 'y'] }, uniqueItems: true },
      when: { anyOf: [{ type: 'null' }, { type: 'number', exclusiveMinimum: 0 }] }, kind: { $ref: '#/definitions/kind' },
    },
    definitions: { kind: { oneOf: [{ const: 'a' }, { const: 'b' }] } },
  }
  const values: unknown[] = [
    { id: 1 }, { id: 0 }, { id: 1.5 }, { id: 2, name: 'abc' }, { id: 2, name: 'abcdef' }, { id: 2, name: 'ABC' }, { id: 3, tags: ['x', 'y'] },
    { id: 3, tags: ['x', 'x'] }, { id: 3, tags: ['z'] }, { id: 4, when: null }, { id: 4, when: 0 }, { id: 4, when: 2 }, { id: 5, kind: 'a' },
    { id: 5, kind: 'c' }, { id: 6, extra: true }, {}, [], 'x', null,
  ]
  it.each(values.map((v) => [JSON.stringify(v), v]))('%s: the same verdict as ajv', (_n, v) => {
    expect(jsonSchemaErrors(s, v).length === 0).toBe(ajv.validate(s, v))
  })
})

describe("Confluent's wire format", () => {
  it('is magic byte 0, a big-endian id, the payload; anything else is a typed error', () => {
    const bytes = encodeWireFormat(258, Uint8Array.of(9, 9))
    expect([...bytes]).toEqual([0, 0, 0, 1, 2, 9, 9])
    expect(decodeWireFormat(bytes)).toEqual({ id: 258, payload: Uint8Array.of(9, 9) })
    expect(() => decodeWireFormat(Uint8Array.of(1, 0, 0, 0, 1))).toThrow(expect.objectContaining({ code: 'UNKNOWN_MAGIC_BYTE' }))
    expect(() => decodeWireFormat(Uint8Array.of(0, 0))).toThrow(expect.objectContaining({ code: 'UNKNOWN_MAGIC_BYTE' }))
  })
})

describe('serde with a producer and a consumer', () => {
  it('encodes with the subject’s latest schema, goes through the log, decodes by id; one lookup per schema, not per record', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    const registry = new SchemaRegistry(log.broker)
    const { id } = await registry.register('events-value', { schema: JSON.stringify(schema) })
    let lookups = 0
    const counting: SchemaSource = {
      schemaById: (n) => { lookups++; return registry.schemaById(n) },
      getVersion: (s, v) => { lookups++; return registry.getVersion(s, v) },
    }
    const serde = new SchemaSerde(counting)
    const producer = log.producer()
    await producer.connect()
    const values = Array.from({ length: 200 }, (_, i) => sample(i))
    await producer.send({ topic: 'events', messages: await serde.encodeMessages('events-value', values.map((value, i) => ({ key: String(i), value }))) })
    const consumer = log.consumer({ groupId: 'g' })
    await consumer.connect()
    await consumer.subscribe({ topics: ['events'], fromBeginning: true })
    const got: unknown[] = []
    await new Promise<void>((resolve) => {
      consumer.run({ eachMessage: async ({ message }) => {
        expect(decodeWireFormat(message.value!).id).toBe(id)
        got.push(await serde.decode(message.value!))
        if (got.length === values.length) resolve()
      } })
    })
    const norm = (v: any) => ({ ...v, blob: [...v.blob], tag: [...v.tag] })
    expect(got.map(norm)).toEqual(values.map(norm))
    expect(lookups).toBe(2) // the subject's latest id once, the schema by id once
    await expect(serde.decode(encodeWireFormat(4242, Uint8Array.of()))).rejects.toMatchObject({ code: 'SCHEMA_NOT_FOUND' })
    await expect(serde.encode('events-value', { id: 1 })).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    await log.close()
  })

  it('parses schemas with references for decoding', () => {
    const parsed = parseSchema({ schema: '{"type":"record","name":"P","fields":[{"name":"a","type":"ex.A"}]}', references: [{ name: 'ex.A', subject: 'a', version: 1 }] },
      () => ({ schema: '{"type":"record","name":"A","namespace":"ex","fields":[{"name":"x","type":"int"}]}' }))
    expect(avroDecode(parsed.avro!, avroEncode(parsed.avro!, { a: { x: 3 } }))).toEqual({ a: { x: 3 } })
  })
})
