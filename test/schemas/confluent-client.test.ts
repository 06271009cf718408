/**
 * `@kafkajs/confluent-schema-registry`, unchanged, pointed at `wrangler dev`: it registers an
 * Avro and a JSON schema with the Worker, encodes records that edgelog's producer sends, and
 * decodes what edgelog's consumer reads; edgelog's own serde reads Confluent's bytes and the
 * other way round; the REST error codes are Confluent's; and after a SIGKILL of wrangler dev
 * the registry answers with the same ids.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SchemaRegistry as ConfluentRegistry, SchemaType, COMPATIBILITY } from '@kafkajs/confluent-schema-registry'
import { connect } from '../../adapters/http/index.ts'
import { RegistryClient, SchemaSerde, decodeWireFormat, type Deserializer } from '../../core/schemas/index.ts'
import { startWranglerDev, type WranglerDev } from '../http/wrangler-dev.ts'
import { run } from '../../cli/main.ts'

const dir = mkdtempSync(join(tmpdir(), 'edgelog-schemas-'))
let dev: WranglerDev

beforeAll(async () => { dev = await startWranglerDev(dir) }, 60_000)
afterAll(async () => {
  await dev?.kill()
  rmSync(dir, { recursive: true, force: true })
})

const avroSchema = {
  type: 'record', name: 'Order', namespace: 'shop',
  fields: [
    { name: 'id', type: 'long' },
    { name: 'item', type: 'string' },
    { name: 'qty', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
    { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } },
  ],
}
const jsonSchema = { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { user: { type: 'string' }, n: { type: 'integer' } }, required: ['user', 'n'], additionalProperties: false }

async function consumeAll(url: string, topic: string, count: number): Promise<Uint8Array[]> {
  const log = connect({ url })
  const consumer = log.consumer({ groupId: `g-${topic}` })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const values: Uint8Array[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${values.length} of ${count} records`)), 30_000)
    consumer.run({ eachMessage: async ({ message }) => {
      values.push(new Uint8Array(message.value!))
      if (values.length === count) { clearTimeout(timer); resolve() }
    } }).catch(reject)
  })
  await consumer.disconnect()
  await log.close()
  return values
}

describe('the Confluent client against the Worker (wrangler dev)', () => {
  let avroId: number
  let jsonId: number

  it('registers Avro, encodes, produces through edgelog, consumes and decodes', async () => {
    const registry = new ConfluentRegistry({ host: dev.url })
    const { id } = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(avroSchema) }, { subject: 'orders-value', compatibility: COMPATIBILITY.BACKWARD })
    avroId = id
    expect(id).toBeGreaterThan(0)
    // Registering again: the same id. The subject's level was set by the client after the first registration.
    expect((await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify(avroSchema) }, { subject: 'orders-value' })).id).toBe(id)
    expect(await registry.getLatestSchemaId('orders-value')).toBe(id)
    expect(await registry.getRegistryId('orders-value', 1)).toBe(id)

    const orders = Array.from({ length: 50 }, (_, i) => ({ id: 1_000_000_000_000 + i, item: `item-${i}`, qty: i, note: i % 3 ? null : `n${i}`, status: i % 2 ? 'PAID' : 'NEW' }))
    const log = connect({ url: dev.url })
    await log.admin().createTopics({ topics: [{ topic: 'orders', numPartitions: 2 }] })
    const producer = log.producer()
    await producer.connect()
    await producer.send({ topic: 'orders', messages: await Promise.all(orders.map(async (o) => ({ key: String(o.id), value: new Uint8Array(await registry.encode(id, o)) }))) })
    await producer.disconnect()
    await log.close()

    const values = await consumeAll(dev.url, 'orders', orders.length)
    const decoded = await Promise.all(values.map((v) => registry.decode(Buffer.from(v))))
    expect(decoded.map((d) => ({ ...d })).sort((a, b) => a.qty - b.qty)).toEqual(orders)
    // edgelog's serde reads the same bytes, and writes bytes the Confluent client reads.
    const serde = new SchemaSerde(new RegistryClient({ url: dev.url }))
    expect(decodeWireFormat(values[0]).id).toBe(id)
    const mine = await Promise.all(values.map((v) => serde.decode(v)))
    expect(mine.map((d) => ({ ...(d as object) })).sort((a, b) => (a as { qty: number }).qty - (b as { qty: number }).qty)).toEqual(orders)
    const bytes = await serde.encode('orders-value', orders[7])
    expect(Buffer.compare(Buffer.from(bytes), await registry.encode(id, orders[7]))).toBe(0)
    expect({ ...(await registry.decode(Buffer.from(bytes))) }).toEqual(orders[7])
  }, 60_000)

  it('registers a JSON schema, and encodes and decodes through edgelog the same way', async () => {
    const registry = new ConfluentRegistry({ host: dev.url })
    const { id } = await registry.register({ type: SchemaType.JSON, schema: JSON.stringify(jsonSchema) }, { subject: 'clicks-value' })
    jsonId = id
    expect(id).not.toBe(avroId)
    const clicks = Array.from({ length: 20 }, (_, i) => ({ user: `u${i}`, n: i }))
    const log = connect({ url: dev.url })
    const producer = log.producer()
    await producer.connect()
    await producer.send({ topic: 'clicks', messages: await Promise.all(clicks.map(async (c) => ({ value: new Uint8Array(await registry.encode(id, c)) }))) })
    await producer.disconnect()
    await log.close()
    const values = await consumeAll(dev.url, 'clicks', clicks.length)
    const decoded = await Promise.all(values.map((v) => registry.decode(Buffer.from(v))))
    expect(decoded.sort((a, b) => a.n - b.n)).toEqual(clicks)
    const serde = new SchemaSerde(new RegistryClient({ url: dev.url }))
    expect(((await Promise.all(values.map((v) => serde.decode(v)))) as typeof clicks).sort((a, b) => a.n - b.n)).toEqual(clicks)
    await expect(serde.encode('clicks-value', { user: 'x' })).rejects.toMatchObject({ code: 'INVALID_VALUE' })
    await expect(registry.encode(id, { user: 'x' })).rejects.toThrow()
  }, 60_000)

  it("answers with Confluent's paths, statuses and error codes", async () => {
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${dev.url}${path}`, { method, headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' }, body: body === undefined ? undefined : JSON.stringify(body) })
      expect(res.headers.get('content-type')).toContain('application/vnd.schemaregistry.v1+json')
      return { status: res.status, body: await res.json() }
    }
    expect(await call('GET', '/subjects')).toEqual({ status: 200, body: ['clicks-value', 'orders-value'] })
    expect(await call('GET', '/subjects/orders-value/versions')).toEqual({ status: 200, body: [1] })
    expect((await call('GET', `/schemas/ids/${avroId}`)).body).toEqual({ schema: JSON.stringify(avroSchema) })
    expect((await call('GET', `/schemas/ids/${jsonId}`)).body).toEqual({ schema: JSON.stringify(jsonSchema), schemaType: 'JSON' })
    expect((await call('GET', '/subjects/nope/versions')).body).toMatchObject({ error_code: 40401 })
    expect(await call('GET', '/subjects/orders-value/versions/9')).toMatchObject({ status: 404, body: { error_code: 40402 } })
    expect(await call('GET', '/schemas/ids/9999')).toMatchObject({ status: 404, body: { error_code: 40403 } })
    expect(await call('GET', '/subjects/orders-value/versions/abc')).toMatchObject({ status: 422, body: { error_code: 42202 } })
    expect(await call('POST', '/subjects/orders-value/versions', { schema: '{"type":' })).toMatchObject({ status: 422, body: { error_code: 42201 } })
    expect(await call('PUT', '/config', { compatibility: 'WHATEVER' })).toMatchObject({ status: 422, body: { error_code: 42203 } })
    const incompatible = { ...avroSchema, fields: [...avroSchema.fields, { name: 'coupon', type: 'string' }] }
    expect(await call('POST', '/compatibility/subjects/orders-value/versions/latest?verbose=true', { schema: JSON.stringify(incompatible) })).toMatchObject({ status: 200, body: { is_compatible: false, messages: [expect.stringContaining('READER_FIELD_MISSING_DEFAULT_VALUE')] } })
    expect(await call('POST', '/subjects/orders-value/versions', { schema: JSON.stringify(incompatible) })).toMatchObject({ status: 409, body: { error_code: 409 } })
    expect(await call('GET', '/subjects/orders-value/versions')).toEqual({ status: 200, body: [1] })
    expect(await call('GET', '/config/orders-value')).toEqual({ status: 200, body: { compatibilityLevel: 'BACKWARD' } })
    expect(await call('GET', '/config/clicks-value')).toMatchObject({ status: 200 })
    expect(await call('GET', '/config/nothing-here')).toMatchObject({ status: 404, body: { error_code: 40408 } })
    expect(await call('POST', '/subjects/orders-value', { schema: JSON.stringify(avroSchema) })).toMatchObject({ status: 200, body: { subject: 'orders-value', id: avroId, version: 1 } })
  }, 60_000)

  it('npx edgelog schema-registry: register, list, get, check, config, delete', async () => {
    const cli = async (...argv: string[]) => {
      const out: string[] = [], err: string[] = []
      const code = await run(['schema-registry', ...argv, '--url', dev.url], { out: (l) => out.push(l), err: (l) => err.push(l), lines: async function* () {} }, connect)
      return { code, out, err }
    }
    const schema = JSON.stringify({ type: 'record', name: 'Ping', fields: [{ name: 'at', type: 'long' }] })
    const registered = await cli('register', '--subject', 'pings-value', '--schema', schema)
    expect(registered).toMatchObject({ code: 0, out: [expect.stringMatching(/^\{"id":\d+\}$/)] })
    const id = JSON.parse(registered.out[0]).id
    expect((await cli('list')).out).toEqual(['clicks-value', 'orders-value', 'pings-value'])
    expect(JSON.parse((await cli('get', '--id', String(id))).out[0])).toEqual({ schema })
    expect(JSON.parse((await cli('get', '--subject', 'pings-value')).out[0])).toMatchObject({ version: 1, id })
    const breaking = JSON.stringify({ type: 'record', name: 'Ping', fields: [{ name: 'at', type: 'long' }, { name: 'by', type: 'string' }] })
    expect(await cli('check', '--subject', 'pings-value', '--schema', breaking)).toMatchObject({ code: 1, out: ['{"is_compatible":false}'] })
    expect(await cli('register', '--subject', 'pings-value', '--schema', breaking)).toMatchObject({ code: 1, err: [expect.stringContaining('INCOMPATIBLE_SCHEMA (409)')] })
    expect(await cli('config', '--subject', 'pings-value', '--set', 'none')).toMatchObject({ code: 0, out: ['{"compatibility":"NONE"}'] })
    expect(await cli('register', '--subject', 'pings-value', '--schema', breaking)).toMatchObject({ code: 0 })
    expect(await cli('versions', '--subject', 'pings-value')).toMatchObject({ out: ['[1,2]'] })
    expect(await cli('delete', '--subject', 'pings-value', '--version', '2')).toMatchObject({ code: 0, out: ['2'] })
    expect(await cli('delete', '--subject', 'pings-value', '--permanent')).toMatchObject({ code: 1, err: [expect.stringContaining('40405')] })
    expect(await cli('get', '--subject', 'nope')).toMatchObject({ code: 1, err: [expect.stringContaining('SUBJECT_NOT_FOUND (40401)')] })
    expect(await cli('register', '--subject', 'x')).toMatchObject({ code: 1, err: [expect.stringContaining('--schema')] })
  }, 60_000)

  it("edgelog's producer and consumer take the Confluent client's encode/decode, or edgelog's serde over HTTP, as their serializers", async () => {
    const registry = new ConfluentRegistry({ host: dev.url })
    const id = await registry.getLatestSchemaId('orders-value')
    const log = connect({ url: dev.url })
    await log.admin().createTopics({ topics: [{ topic: 'orders-typed', numPartitions: 2 }] })
    const lookups: string[] = []
    const counted: typeof fetch = (input, init) => { lookups.push(String(input)); return fetch(input, init) }
    const serde = new SchemaSerde(new RegistryClient({ url: dev.url, fetch: counted }))
    const orders = Array.from({ length: 30 }, (_, i) => ({ id: 2_000_000_000_000 + i, item: `typed-${i}`, qty: i, note: null, status: 'NEW' }))
    // The Confluent client as the serializer: what a KafkaJS user already has.
    const confluentProducer = log.producer({ serializers: { value: (order: (typeof orders)[number]) => registry.encode(id, order) } })
    await confluentProducer.send({ topic: 'orders-typed', messages: orders.slice(0, 15).map((o) => ({ key: String(o.id), value: o })) })
    const mine = log.producer({ serializers: { value: serde.serializer<(typeof orders)[number]>({ subject: 'orders-value' }) } })
    for (const o of orders.slice(15)) await mine.send({ topic: 'orders-typed', messages: [{ key: String(o.id), value: o }] })
    await Promise.all([confluentProducer.disconnect(), mine.disconnect()])
    expect(lookups).toHaveLength(2) // the subject's latest version once, the schema by id once: not per record

    const read = async (deserializer: Deserializer<unknown>) => {
      const consumer = log.consumer({ groupId: `typed-${Math.random()}`, deserializers: { value: deserializer } })
      await consumer.subscribe({ topics: ['orders-typed'], fromBeginning: true })
      const values: any[] = []
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${values.length} of ${orders.length}`)), 30_000)
        consumer.run({ eachMessage: async ({ message }) => {
          values.push({ ...(message.value as object) })
          if (values.length === orders.length) { clearTimeout(timer); resolve() }
        } }).catch(reject)
      })
      await consumer.disconnect()
      return values.sort((a, b) => a.qty - b.qty)
    }
    expect(await read((bytes) => registry.decode(Buffer.from(bytes)))).toEqual(orders)
    expect(await read(serde.deserializer())).toEqual(orders)
    await log.close()
  }, 60_000)

  it('keeps the same ids through a SIGKILL of wrangler dev', async () => {
    await dev.kill()
    dev = await startWranglerDev(dir)
    const registry = new ConfluentRegistry({ host: dev.url })
    expect(await registry.getLatestSchemaId('orders-value')).toBe(avroId)
    expect(await registry.getLatestSchemaId('clicks-value')).toBe(jsonId)
    expect(await (await fetch(`${dev.url}/subjects/orders-value/versions`)).json()).toEqual([1])
    expect(await (await fetch(`${dev.url}/schemas/ids/${avroId}`)).json()).toEqual({ schema: JSON.stringify(avroSchema) })
    const next = await registry.register({ type: SchemaType.AVRO, schema: JSON.stringify({ ...avroSchema, fields: [...avroSchema.fields, { name: 'coupon', type: ['null', 'string'], default: null }] }) }, { subject: 'orders-value' })
    expect(next.id).toBeGreaterThan(Math.max(avroId, jsonId))
  }, 90_000)
})
