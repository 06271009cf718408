/** confluent.value.schema.validation: only records carrying a live schema id of `<topic>-value`, and a payload valid in that schema, are stored. */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { openLog } from '../../core/open-log.ts'
import { SchemaRegistry } from '../../core/schemas/registry.ts'
import { encodeWireFormat, SchemaSerde } from '../../core/schemas/serde.ts'

const order = JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] })
const other = JSON.stringify({ type: 'record', name: 'Other', fields: [{ name: 'n', type: 'int' }] })
const bytes = (s: string) => new TextEncoder().encode(s)

describe('broker-side schema validation', () => {
  it('stores records with a live id of <topic>-value, refuses the rest typed and stores nothing of them', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    const registry = new SchemaRegistry(log.broker)
    const serde = new SchemaSerde(registry)
    const { id } = await registry.register('orders-value', { schema: order })
    const { id: otherId } = await registry.register('payments-value', { schema: other })
    await log.admin().createTopics({ topics: [{ topic: 'orders', configEntries: [{ name: 'confluent.value.schema.validation', value: 'true' }] }] })
    const producer = log.producer()
    await producer.send({ topic: 'orders', messages: [{ key: 'o1', value: await serde.encode({ id }, { id: 'o1' }) }, { key: 'o0', value: null }] })
    await expect(producer.send({ topic: 'orders', messages: [{ value: '{"id":"plain json"}' }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 'orders', messages: [{ value: await serde.encode({ id: otherId }, { n: 1 }) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    // The subject's id, but a payload that is not a value of its schema (truncated; trailing bytes).
    await expect(producer.send({ topic: 'orders', messages: [{ value: encodeWireFormat(id, bytes('payload')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD', message: expect.stringContaining(`does not match schema id ${id}`) })
    const good = await serde.encode({ id }, { id: 'o2' })
    await expect(producer.send({ topic: 'orders', messages: [{ value: good }, { value: Uint8Array.of(...good, 7) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD', message: expect.stringContaining('record 1 of a batch') })
    await expect(producer.send({ topic: 'orders', messages: [{ value: encodeWireFormat(9_999, bytes('x')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    // A schema registered after the validator read the registry is found (it reads what is new).
    const { id: v2 } = await registry.register('orders-value', { schema: JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }, { name: 'note', type: 'string', default: '' }] }) })
    await producer.send({ topic: 'orders', messages: [{ value: await serde.encode({ id: v2 }, { id: 'o3', note: 'v2' }) }] })
    const [{ high }] = await log.admin().fetchTopicOffsets('orders')
    expect(high).toBe('3')
    await log.close()
  })

  it('a JSON Schema subject: the payload must be JSON its schema accepts; keys validated with <topic>-key', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    const registry = new SchemaRegistry(log.broker)
    const serde = new SchemaSerde(registry)
    const { id } = await registry.register('clicks-value', { schema: JSON.stringify({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] }), schemaType: 'JSON' })
    const { id: keyId } = await registry.register('clicks-key', { schema: '"string"' })
    await log.admin().createTopics({ topics: [{ topic: 'clicks', configEntries: [{ name: 'confluent.value.schema.validation', value: 'true' }, { name: 'confluent.key.schema.validation', value: 'true' }] }] })
    const producer = log.producer()
    const key = await serde.encode({ id: keyId }, 'k')
    await producer.send({ topic: 'clicks', messages: [{ key, value: await serde.encode({ id }, { n: 1 }) }] })
    await expect(producer.send({ topic: 'clicks', messages: [{ key, value: encodeWireFormat(id, bytes('{"n":"one"}')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 'clicks', messages: [{ key, value: encodeWireFormat(id, bytes('{"n":')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 'clicks', messages: [{ key: 'plain', value: await serde.encode({ id }, { n: 2 }) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD', message: expect.stringContaining("subject 'clicks-key'") })
    const [{ high }] = await log.admin().fetchTopicOffsets('clicks')
    expect(high).toBe('1')
    await log.close()
  })

  it('off by default; the setting takes only true or false', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    await log.admin().createTopics({ topics: [{ topic: 'free' }] })
    await log.producer().send({ topic: 'free', messages: [{ value: 'anything' }] })
    await expect(log.admin().createTopics({ topics: [{ topic: 'bad', configEntries: [{ name: 'confluent.value.schema.validation', value: 'yes' }] }] })).rejects.toMatchObject({ code: 'INVALID_CONFIG' })
    await log.close()
  })
})
