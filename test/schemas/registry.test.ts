/**
 * The registry over an in-process log: Confluent's semantics (versions, ids, lookups, soft
 * and permanent deletes, configs, references), typed refusals that store nothing, the state
 * rebuilt from the `_schemas` topic, and concurrent writers that never share an id or version.
 */
import { describe, expect, it } from 'vitest'
import { LocalBroker } from '../../core/log/local-broker.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { SchemaRegistry, SCHEMAS_TOPIC, type SchemaErrorCode } from '../../core/schemas/index.ts'
import { EdgelogError } from '../../core/errors.ts'

const user = (fields: unknown[] = []) => JSON.stringify({ type: 'record', name: 'User', fields: [{ name: 'name', type: 'string' }, ...fields] })
const V1 = user()
const V2 = user([{ name: 'age', type: 'int', default: 0 }])
const V3 = user([{ name: 'age', type: 'int', default: 0 }, { name: 'email', type: ['null', 'string'], default: null }])

function setup() {
  const storage = new MemoryStorage()
  const broker = new LocalBroker({ storage })
  return { storage, broker, registry: new SchemaRegistry(broker) }
}

async function refused(promise: Promise<unknown>, code: SchemaErrorCode, errorCode: number): Promise<void> {
  const e = await promise.then(() => undefined, (err) => err)
  expect(e, `expected ${code}`).toBeDefined()
  expect(e.code).toBe(code)
  expect(e.errorCode).toBe(errorCode)
}

async function recordsIn(broker: LocalBroker): Promise<number> {
  const [o] = await broker.listOffsets({ topic: SCHEMAS_TOPIC, partitions: [0], spec: 'latest' })
  return o.offset
}

async function storedRecords(broker: LocalBroker): Promise<number> {
  const { decodeBatch } = await import('../../core/codec/record-batch.ts')
  const r = await broker.fetch({ topic: SCHEMAS_TOPIC, partition: 0, offset: 0, maxBytes: 1 << 20 })
  let n = 0
  for (const b of r.batches) n += (await decodeBatch(b)).records.length
  return n
}

describe('registering', () => {
  it('gives ids and versions as Confluent does; the same schema again is the same id, no new version', async () => {
    const { registry } = setup()
    expect(await registry.register('users-value', { schema: V1 })).toEqual({ id: 1 })
    expect(await registry.register('users-value', { schema: V2 })).toEqual({ id: 2 })
    expect(await registry.register('users-value', { schema: JSON.stringify(JSON.parse(V2), null, 2) })).toEqual({ id: 2 })
    expect(await registry.versions('users-value')).toEqual([1, 2])
    // The same schema under another subject: the same id, version 1 there.
    expect(await registry.register('other-value', { schema: V1 })).toEqual({ id: 1 })
    expect(await registry.getVersion('other-value', 'latest')).toEqual({ subject: 'other-value', version: 1, id: 1, schema: V1 })
    expect(await registry.getVersion('users-value', 2)).toEqual({ subject: 'users-value', version: 2, id: 2, schema: V2 })
    expect(await registry.getVersion('users-value', '-1')).toMatchObject({ version: 2 })
    expect(await registry.schemaById(2)).toEqual({ schema: V2 })
    expect(await registry.subjects()).toEqual(['other-value', 'users-value'])
    expect(await registry.idVersions(1)).toEqual([{ subject: 'other-value', version: 1 }, { subject: 'users-value', version: 1 }])
    expect(await registry.lookup('users-value', { schema: V1 })).toMatchObject({ subject: 'users-value', id: 1, version: 1 })
  })

  it('JSON schemas carry their type; a type change is not the same schema', async () => {
    const { registry } = setup()
    const schema = JSON.stringify({ type: 'object', properties: { a: { type: 'string' } } })
    expect(await registry.register('j', { schema, schemaType: 'JSON' })).toEqual({ id: 1 })
    expect(await registry.schemaById(1)).toEqual({ schema, schemaType: 'JSON' })
    expect(await registry.getVersion('j', 1)).toMatchObject({ schemaType: 'JSON' })
    await registry.setConfig('j', 'NONE')
    expect(await registry.register('j', { schema: '"string"' })).toEqual({ id: 2 })
  })

  it('refuses bad input with typed errors and stores nothing', async () => {
    const { registry, broker } = setup()
    await registry.register('s', { schema: V1 })
    const before = await recordsIn(broker)
    await refused(registry.register('s', { schema: '{"type":"record"' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"Nope"}]}' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"int","default":"x"}]}' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: '{"type":"enum","name":"E","symbols":["A","A"]}' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: '{"type":"wat"}', schemaType: 'JSON' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: V1, schemaType: 'XML' }), 'INVALID_SCHEMA', 42201)
    await refused(registry.register('s', { schema: user([{ name: 'age', type: 'int' }]) }), 'INCOMPATIBLE_SCHEMA', 409)
    await refused(registry.setConfig('s', 'SIDEWAYS'), 'INVALID_COMPATIBILITY_LEVEL', 42203)
    expect(await recordsIn(broker)).toBe(before)
    expect(await registry.versions('s')).toEqual([1])
  })

  it('answers 404s with Confluent codes', async () => {
    const { registry } = setup()
    await refused(registry.versions('nope'), 'SUBJECT_NOT_FOUND', 40401)
    await refused(registry.getVersion('nope', 1), 'SUBJECT_NOT_FOUND', 40401)
    await registry.register('s', { schema: V1 })
    await refused(registry.getVersion('s', 7), 'VERSION_NOT_FOUND', 40402)
    await refused(registry.getVersion('s', 'first'), 'INVALID_VERSION', 42202)
    await refused(registry.getVersion('s', 0), 'INVALID_VERSION', 42202)
    await refused(registry.schemaById(99), 'SCHEMA_NOT_FOUND', 40403)
    await refused(registry.lookup('s', { schema: V2 }), 'SCHEMA_NOT_FOUND', 40403)
    await refused(registry.lookup('nope', { schema: V2 }), 'SUBJECT_NOT_FOUND', 40401)
    await refused(registry.getConfig('s'), 'SUBJECT_LEVEL_COMPATIBILITY_NOT_CONFIGURED', 40408)
    expect(await registry.getConfig('s', { defaultToGlobal: true })).toEqual({ compatibilityLevel: 'BACKWARD' })
  })
})

describe('deleting', () => {
  it('soft, then permanent; versions keep counting after a soft delete; ids are never given again', async () => {
    const { registry } = setup()
    await registry.register('s', { schema: V1 })
    await registry.register('s', { schema: V2 })
    await refused(registry.deleteVersion('s', 1, { permanent: true }), 'VERSION_NOT_SOFT_DELETED', 40407)
    expect(await registry.deleteVersion('s', 1)).toBe(1)
    await refused(registry.deleteVersion('s', 1), 'VERSION_NOT_FOUND', 40402)
    expect(await registry.versions('s')).toEqual([2])
    expect(await registry.versions('s', { deleted: true })).toEqual([1, 2])
    expect(await registry.schemaById(1)).toEqual({ schema: V1 }) // a soft-deleted schema is still readable by id
    await refused(registry.deleteSubject('s', { permanent: true }), 'SUBJECT_NOT_SOFT_DELETED', 40405)
    expect(await registry.deleteSubject('s')).toEqual([2])
    await refused(registry.deleteSubject('s'), 'SUBJECT_SOFT_DELETED', 40404)
    await refused(registry.versions('s'), 'SUBJECT_NOT_FOUND', 40401)
    expect(await registry.subjects()).toEqual([])
    expect(await registry.subjects({ deleted: true })).toEqual(['s'])
    // Registering again after a soft delete continues the version numbers.
    expect(await registry.register('s', { schema: V3 })).toEqual({ id: 3 })
    expect(await registry.versions('s')).toEqual([3])
    await registry.deleteSubject('s')
    expect(await registry.deleteSubject('s', { permanent: true })).toEqual([1, 2, 3])
    await refused(registry.schemaById(3), 'SCHEMA_NOT_FOUND', 40403)
    // After a permanent delete of the highest id, a new schema still gets a new id.
    expect(await registry.register('t', { schema: user([{ name: 'x', type: 'long', default: 1 }]) })).toEqual({ id: 4 })
  })

  it('refuses to delete a version another schema references (42206)', async () => {
    const { registry } = setup()
    const address = JSON.stringify({ type: 'record', name: 'Address', namespace: 'ex', fields: [{ name: 'city', type: 'string' }] })
    await registry.register('address', { schema: address })
    const person = JSON.stringify({ type: 'record', name: 'Person', namespace: 'ex', fields: [{ name: 'home', type: 'ex.Address' }] })
    await refused(registry.register('person', { schema: person }), 'INVALID_SCHEMA', 42201)
    const { id } = await registry.register('person', { schema: person, references: [{ name: 'ex.Address', subject: 'address', version: 1 }] })
    expect(await registry.schemaById(id)).toEqual({ schema: person, references: [{ name: 'ex.Address', subject: 'address', version: 1 }] })
    expect(await registry.referencedBy('address', 1)).toEqual([id])
    await refused(registry.deleteSubject('address'), 'REFERENCE_EXISTS', 42206)
    await refused(registry.register('person', { schema: person, references: [{ name: 'ex.Address', subject: 'address', version: 9 }] }), 'INVALID_SCHEMA', 42201)
  })
})

describe('config', () => {
  it('global and per subject; PUT answers { compatibility }, GET { compatibilityLevel }; DELETE returns the old level', async () => {
    const { registry } = setup()
    expect(await registry.getConfig()).toEqual({ compatibilityLevel: 'BACKWARD' })
    expect(await registry.setConfig(undefined, 'full')).toEqual({ compatibility: 'FULL' })
    expect(await registry.setConfig('s', 'NONE')).toEqual({ compatibility: 'NONE' })
    expect(await registry.getConfig('s')).toEqual({ compatibilityLevel: 'NONE' })
    expect(await registry.deleteConfig('s')).toEqual({ compatibilityLevel: 'NONE' })
    expect(await registry.getConfig('s', { defaultToGlobal: true })).toEqual({ compatibilityLevel: 'FULL' })
    expect(await registry.deleteConfig()).toEqual({ compatibilityLevel: 'FULL' })
    expect(await registry.getConfig()).toEqual({ compatibilityLevel: 'BACKWARD' })
  })
})

describe('the store is the log', () => {
  it('a new registry over the same storage (a restart) rebuilds the same state from _schemas', async () => {
    const { registry, storage } = setup()
    await registry.register('a', { schema: V1 })
    await registry.register('a', { schema: V2 })
    await registry.setConfig('a', 'FULL')
    await registry.deleteVersion('a', 1)
    const again = new SchemaRegistry(new LocalBroker({ storage }))
    expect(await again.versions('a')).toEqual([2])
    expect(await again.getConfig('a')).toEqual({ compatibilityLevel: 'FULL' })
    expect(await again.register('b', { schema: V3 })).toEqual({ id: 3 })
    const [meta] = await new LocalBroker({ storage }).metadata({ topics: [SCHEMAS_TOPIC] })
    expect(meta.config['cleanup.policy']).toContain('compact')
  })

  it('keeps its state through compaction (tombstones, superseded records, the highest id)', async () => {
    const { broker, storage, registry } = setup()
    await registry.register('a', { schema: V1 })
    await registry.register('a', { schema: V2 })
    await registry.register('b', { schema: V3 })
    await registry.deleteSubject('b')
    await registry.deleteSubject('b', { permanent: true })
    await broker.alterConfigs({ topic: SCHEMAS_TOPIC, configEntries: [{ name: 'segment.bytes', value: '14' }, { name: 'delete.retention.ms', value: '0' }] })
    await registry.setConfig('a', 'FULL') // rolls the segment
    const before = await storedRecords(broker)
    await broker.runMaintenance({ topic: SCHEMAS_TOPIC })
    expect(await storedRecords(broker)).toBeLessThan(before)
    const again = new SchemaRegistry(new LocalBroker({ storage }))
    expect(await again.versions('a')).toEqual([1, 2])
    expect(await again.subjects({ deleted: true })).toEqual(['a'])
    expect(await again.register('c', { schema: user([{ name: 'z', type: 'string', default: '' }]) })).toEqual({ id: 4 })
    expect(await registry.register('d', { schema: user([{ name: 'w', type: 'string', default: '' }]) })).toEqual({ id: 5 })
  })

  it('ignores records in _schemas that another producer wrote', async () => {
    const { broker, registry } = setup()
    await registry.register('a', { schema: V1 })
    const producer = (await import('../../core/client/client.ts')).createClient(broker).producer()
    await producer.connect()
    await producer.send({ topic: SCHEMAS_TOPIC, messages: [{ key: JSON.stringify({ keytype: 'SCHEMA', subject: 'evil', version: 1, magic: 1 }), value: JSON.stringify({ subject: 'evil', version: 1, id: 1000, schema: '"string"', deleted: false }) }] })
    await producer.disconnect()
    expect(await registry.subjects()).toEqual(['a'])
    expect(await registry.register('b', { schema: V3 })).toEqual({ id: 2 })
  })
})

describe('concurrent writers (isolates, tabs) over one log', () => {
  it('never give one id to two schemas, nor one version to two registrations', async () => {
    const { broker } = setup()
    const writers = Array.from({ length: 4 }, () => new SchemaRegistry(broker))
    await writers[0].setConfig(undefined, 'NONE')
    const schemas = Array.from({ length: 24 }, (_, i) => user([{ name: `f${i}`, type: 'int', default: i }]))
    const results = await Promise.all(schemas.map((schema, i) => writers[i % writers.length].register(i % 2 ? 'odd' : 'even', { schema })))
    const ids = results.map((r) => r.id)
    expect(new Set(ids).size).toBe(schemas.length)
    expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: 24 }, (_, i) => i + 1))
    const reader = new SchemaRegistry(broker)
    expect(await reader.versions('odd')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    expect(await reader.versions('even')).toEqual(Array.from({ length: 12 }, (_, i) => i + 1))
    for (let i = 0; i < schemas.length; i++) expect((await reader.schemaById(ids[i])).schema).toBe(schemas[i])
  })

  it('a writer whose view of the log is behind (a tab whose partition has not reloaded) and is told the producer is unknown gives no id twice', async () => {
    const { broker } = setup()
    const a = new SchemaRegistry(broker)
    await a.register('x', { schema: V1 })
    // B's log: its reads stop at what it saw first (as a tab not yet told of another's writes),
    // and its first write is answered UNKNOWN_PRODUCER_ID (that tab's partition has no state for it).
    let snapshot = -1
    let staleReads = 4
    let firstWrite = true
    const behind: typeof broker = Object.create(broker)
    behind.fetch = async (request) => {
      const result = await broker.fetch(request)
      if (snapshot < 0) snapshot = result.highWatermark
      if (staleReads-- <= 0) return result
      const { readBatchHeader } = await import('../../core/codec/record-batch.ts')
      return { ...result, highWatermark: snapshot, batches: result.batches.filter((bytes) => readBatchHeader(bytes).baseOffset < snapshot) }
    }
    behind.produce = async (request) => {
      if (firstWrite) {
        firstWrite = false
        // Meanwhile A writes: B has not read it.
        await a.register('x', { schema: V2 })
        throw new EdgelogError('UNKNOWN_PRODUCER_ID', 'No state for this producer here')
      }
      return broker.produce(request)
    }
    const b = new SchemaRegistry(behind)
    await b.versions('x').catch(() => [])
    const { id } = await b.register('y', { schema: V3 })
    const reader = new SchemaRegistry(broker)
    expect(await reader.versions('x')).toEqual([1, 2])
    const ids = [(await reader.getVersion('x', 1)).id, (await reader.getVersion('x', 2)).id, id]
    expect(new Set(ids).size).toBe(3)
    expect((await reader.schemaById(id)).schema).toBe(V3)
    expect((await reader.getVersion('y', 1)).id).toBe(id)
  })

  it('checks compatibility against the version the write lands on', async () => {
    const { broker } = setup()
    const a = new SchemaRegistry(broker), b = new SchemaRegistry(broker)
    await a.register('s', { schema: V1 })
    await a.setConfig('s', 'FORWARD_TRANSITIVE')
    // Each of these is forward compatible with V1 alone, but not with each other.
    const x = user([{ name: 'n', type: 'int' }])
    const y = user([{ name: 'n', type: 'string' }])
    const outcomes = await Promise.allSettled([a.register('s', { schema: x }), b.register('s', { schema: y })])
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1)
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason.code)).toEqual(['INCOMPATIBLE_SCHEMA'])
    expect(await a.versions('s')).toEqual([1, 2])
  })
})
