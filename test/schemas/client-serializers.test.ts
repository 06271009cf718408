/**
 * Serializers given to the client: `log.producer({ serializers })` writes Confluent's wire
 * format itself (TopicNameStrategy subjects, a fixed version or id), `log.consumer({ deserializers })`
 * hands decoded values to eachMessage/eachBatch; one registry lookup per subject and per id,
 * not per record; sends stay in call order while a schema is fetched; a value that does not
 * match, or a record that is not the wire format, is a typed error and nothing is stored.
 */
import { describe, expect, it } from 'vitest'
import { openLog } from '../../core/open-log.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import type { EdgelogClient } from '../../core/client/client.ts'
import type { Consumer } from '../../core/client/consumer.ts'
import { isEdgelogError } from '../../core/errors.ts'
import { SchemaRegistry, SchemaRegistryError, SchemaSerde, decodeWireFormat, encodeWireFormat, isSchemaRegistryError, type SchemaSource } from '../../core/schemas/index.ts'

interface Order { id: number; item: string; qty: number; note: string | null }
const orderV1 = { type: 'record', name: 'Order', namespace: 'shop', fields: [{ name: 'id', type: 'long' }, { name: 'item', type: 'string' }, { name: 'qty', type: 'int' }, { name: 'note', type: ['null', 'string'], default: null }] }
const orderV2 = { ...orderV1, fields: [...orderV1.fields, { name: 'coupon', type: ['null', 'string'], default: null }] }
const order = (i: number): Order => ({ id: 1_000_000_000_000 + i, item: `item-${i}`, qty: i, note: i % 3 ? null : `n${i}` })

function counting(registry: SchemaRegistry): { source: SchemaSource; calls: string[] } {
  const calls: string[] = []
  return {
    calls,
    source: {
      schemaById: (id) => { calls.push(`id ${id}`); return registry.schemaById(id) },
      getVersion: (s, v) => { calls.push(`${s} ${v}`); return registry.getVersion(s, v) },
    },
  }
}

async function setup() {
  const log = await openLog({ storage: new MemoryStorage() })
  const registry = new SchemaRegistry(log.broker)
  await log.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] })
  return { log, registry }
}

/** Runs `consumer` until `count` messages arrived; resolves with them. */
async function collect<T>(consumer: Consumer<T, unknown>, topic: string, count: number): Promise<Array<{ key: unknown; value: T | null; offset: string }>> {
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got: Array<{ key: unknown; value: T | null; offset: string }> = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${count}`)), 10_000)
    consumer.run({ eachMessage: async ({ message }) => {
      got.push({ key: message.key, value: message.value, offset: message.offset })
      if (got.length === count) { clearTimeout(timer); resolve() }
    } }).catch(reject)
  })
  await consumer.disconnect()
  return got
}

const highWatermarks = async (log: EdgelogClient, topic: string) => (await log.admin().fetchTopicOffsets(topic)).map((p) => p.high)

describe('producer and consumer serializers (Confluent wire format)', () => {
  it('encodes values and keys with <topic>-value / <topic>-key, decodes them for eachMessage; one lookup per subject and id', async () => {
    const { log, registry } = await setup()
    const { id } = await registry.register('orders-value', { schema: JSON.stringify(orderV1) })
    const { id: keyId } = await registry.register('orders-key', { schema: '"long"' })
    const out = counting(registry)
    const serde = new SchemaSerde(out.source)
    const producer = log.producer({ serializers: { value: serde.serializer<Order>(), key: serde.serializer<number>() } })
    await producer.connect()
    const orders = Array.from({ length: 200 }, (_, i) => order(i))
    for (let i = 0; i < orders.length; i += 40) {
      await producer.send({ topic: 'orders', messages: orders.slice(i, i + 40).map((o) => ({ key: o.id, value: o })) })
    }
    await producer.disconnect()
    expect(out.calls.sort()).toEqual([`id ${id}`, `id ${keyId}`, 'orders-key latest', 'orders-value latest'].sort())

    // On the log: Confluent's bytes, carrying the ids.
    const raw = await collect(log.consumer({ groupId: 'raw' }), 'orders', 200)
    for (const r of raw) {
      expect(decodeWireFormat(r.value!).id).toBe(id)
      expect(decodeWireFormat(r.key as Uint8Array).id).toBe(keyId)
    }

    const inn = counting(registry)
    const reader = new SchemaSerde(inn.source)
    const consumer = log.consumer({ groupId: 'typed', deserializers: { value: reader.deserializer<Order>(), key: reader.deserializer<number>() } })
    const got = await collect(consumer, 'orders', 200)
    expect(got.map((m) => m.value).sort((a, b) => a!.qty - b!.qty)).toEqual(orders)
    for (const m of got) expect(m.key).toBe(m.value!.id)
    expect(inn.calls.sort()).toEqual([`id ${id}`, `id ${keyId}`].sort())
    await log.close()
  })

  it('eachBatch gets decoded messages; a tombstone stays null; the latest schema is used again after latestTtlMs', async () => {
    const { log, registry } = await setup()
    const first = await registry.register('orders-value', { schema: JSON.stringify(orderV1) })
    let now = 0
    const out = counting(registry)
    const serde = new SchemaSerde(out.source, { latestTtlMs: 1000, now: () => now })
    const producer = log.producer({ serializers: { value: serde.serializer<Order>() } })
    await producer.send({ topic: 'orders', messages: [{ key: 'a', value: order(1), partition: 0 }, { key: 'a', value: null, partition: 0 }] })
    const second = await registry.register('orders-value', { schema: JSON.stringify(orderV2) })
    await producer.send({ topic: 'orders', messages: [{ value: order(2), partition: 0 }] })
    now = 1001
    await producer.send({ topic: 'orders', messages: [{ value: order(3), partition: 0 }] })
    expect(out.calls.filter((c) => c === 'orders-value latest')).toHaveLength(2)

    const consumer = log.consumer({ groupId: 'batch', deserializers: { value: new SchemaSerde(registry).deserializer<Order>() } })
    await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
    const values: Array<Order | null> = []
    await new Promise<void>((resolve, reject) => {
      consumer.run({ eachBatch: async ({ batch }) => {
        for (const m of batch.messages) values.push(m.value)
        if (values.length === 4) resolve()
      } }).catch(reject)
    })
    await consumer.disconnect()
    // Written with v1, v1 (cached), then v2 once the cached latest expired; each read with its writer's schema.
    expect(values).toEqual([order(1), null, order(2), { ...order(3), coupon: null }])
    const ids = (await collect(log.consumer({ groupId: 'ids' }), 'orders', 4)).map((m) => (m.value ? decodeWireFormat(m.value).id : null))
    expect(ids).toEqual([first.id, null, first.id, second.id])
    await log.close()
  })

  it('a fixed version, a fixed id or a subject of its own; a reader schema for the consumer', async () => {
    const { log, registry } = await setup()
    const v1 = await registry.register('shop-orders', { schema: JSON.stringify(orderV1) })
    const v2 = await registry.register('shop-orders', { schema: JSON.stringify(orderV2) })
    const serde = new SchemaSerde(registry)
    const send = (serializer: ReturnType<typeof serde.serializer<Order>>, i: number) =>
      log.producer({ serializers: { value: serializer } }).send({ topic: 'orders', messages: [{ value: order(i), partition: 1 }] })
    await send(serde.serializer<Order>({ subject: 'shop-orders', version: 1 }), 0)
    await send(serde.serializer<Order>({ subject: (topic) => `shop-${topic}` }), 1)
    await send(serde.serializer<Order>({ id: v1.id }), 2)
    const raw = await collect(log.consumer({ groupId: 'raw' }), 'orders', 3)
    expect(raw.map((m) => decodeWireFormat(m.value!).id)).toEqual([v1.id, v2.id, v1.id])
    const reader = await serde.schema(v2.id)
    const got = await collect(log.consumer({ groupId: 'read-v2', deserializers: { value: serde.deserializer<Order & { coupon: string | null }>({ reader }) } }), 'orders', 3)
    expect(got.map((m) => m.value)).toEqual([0, 1, 2].map((i) => ({ ...order(i), coupon: null })))
    await log.close()
  })

  it('keeps sends in call order while the first one waits for the registry', async () => {
    const { log, registry } = await setup()
    await registry.register('orders-value', { schema: JSON.stringify(orderV1) })
    let release!: () => void
    const gate = new Promise<void>((r) => { release = r })
    const slow: SchemaSource = {
      schemaById: (id) => registry.schemaById(id),
      getVersion: async (s, v) => { await gate; return registry.getVersion(s, v) },
    }
    const producer = log.producer({ serializers: { value: new SchemaSerde(slow).serializer<Order>() } })
    await producer.connect()
    const a = producer.send({ topic: 'orders', messages: [{ value: order(1), partition: 2 }] })
    // A tombstone needs no schema: it is ready at once, and still goes after the send before it.
    const b = producer.send({ topic: 'orders', messages: [{ key: 'k', value: null, partition: 2 }] })
    await new Promise((r) => setTimeout(r, 20))
    release()
    const [[ra], [rb]] = await Promise.all([a, b])
    expect(Number(ra.baseOffset)).toBe(0)
    expect(Number(rb.baseOffset)).toBe(1)
    await log.close()
  })

  it('a value that does not match its schema: INVALID_VALUE naming the field, and nothing of the send stored', async () => {
    const { log, registry } = await setup()
    await registry.register('orders-value', { schema: JSON.stringify(orderV1) })
    const producer = log.producer({ serializers: { value: new SchemaSerde(registry).serializer<unknown>() } })
    await producer.send({ topic: 'orders', messages: [{ value: order(0) }] })
    const before = await highWatermarks(log, 'orders')
    const bad = await producer.send({ topic: 'orders', messages: [{ value: order(1) }, { value: { ...order(2), qty: 'many' } }, { value: order(3) }] }).catch((e) => e)
    expect(isSchemaRegistryError(bad, 'INVALID_VALUE'), String(bad)).toBe(true)
    expect(bad.message).toContain('qty')
    // A subject the registry does not have: its typed error, nothing stored either.
    const noSubject = await log.producer({ serializers: { value: new SchemaSerde(registry).serializer<unknown>({ subject: 'nope' }) } })
      .send({ topic: 'orders', messages: [{ value: order(4) }] }).catch((e) => e)
    expect(isSchemaRegistryError(noSubject, 'SUBJECT_NOT_FOUND'), String(noSubject)).toBe(true)
    // A serializer of the user's that throws something untyped: INVALID_RECORD, nothing stored.
    const own = await log.producer({ serializers: { value: (_v: number): Uint8Array => { throw new Error('boom') } } })
      .send({ topic: 'orders', messages: [{ value: 1 }] }).catch((e) => e)
    expect(isEdgelogError(own, 'INVALID_RECORD') && own.message.includes('boom')).toBe(true)
    expect(await highWatermarks(log, 'orders')).toEqual(before)
    await log.close()
  })

  it('a record that is not the wire format, or carries an unknown id: the consumer stops with INVALID_RECORD naming it', async () => {
    for (const [bytes, cause] of [[new TextEncoder().encode('plain text'), 'UNKNOWN_MAGIC_BYTE'], [encodeWireFormat(4242, Uint8Array.of(2)), 'SCHEMA_NOT_FOUND']] as const) {
      const { log, registry } = await setup()
      await log.producer().send({ topic: 'orders', messages: [{ value: bytes, partition: 0 }] })
      const consumer = log.consumer({ groupId: 'g', deserializers: { value: new SchemaSerde(registry).deserializer() } })
      await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
      const crashed = new Promise<{ error: any; restart: boolean }>((resolve) => consumer.on(consumer.events.CRASH, (e) => resolve(e.payload ?? e)))
      let handed = 0
      await consumer.run({ eachMessage: async () => { handed++ } })
      const { error, restart } = await crashed
      expect(isEdgelogError(error, 'INVALID_RECORD'), String(error)).toBe(true)
      expect(error.message).toContain('orders-0 at offset 0')
      expect(error.cause).toMatchObject({ code: cause })
      expect(restart).toBe(false)
      expect(handed).toBe(0)
      await consumer.disconnect()
      await log.close()
    }
  })
})

describe('deserializers when the registry is away', () => {
  it('a retriable lookup failure is retried by the consumer, which then hands every record over', async () => {
    const { log, registry } = await setup()
    await registry.register('orders-value', { schema: JSON.stringify(orderV1) })
    await log.producer({ serializers: { value: new SchemaSerde(registry).serializer<Order>() } })
      .send({ topic: 'orders', messages: [0, 1, 2].map((i) => ({ value: order(i), partition: 0 })) })
    let failures = 0
    const flaky: SchemaSource = {
      schemaById: async (id) => {
        if (failures++ < 2) throw new SchemaRegistryError('STORE_ERROR', 'Cannot reach the registry', { retriable: true })
        return registry.schemaById(id)
      },
      getVersion: (s, v) => registry.getVersion(s, v),
    }
    const consumer = log.consumer({ groupId: 'g', retry: { initialRetryTime: 10, retries: 5 }, deserializers: { value: new SchemaSerde(flaky).deserializer<Order>() } })
    let crashed = false
    consumer.on(consumer.events.CRASH, () => { crashed = true })
    const got = await collect(consumer, 'orders', 3)
    expect(got.map((m) => m.value)).toEqual([order(0), order(1), order(2)])
    expect(failures).toBe(3)
    expect(crashed).toBe(false)
    await log.close()
  })
})
