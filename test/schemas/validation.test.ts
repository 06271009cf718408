/** confluent.value.schema.validation: only records carrying a live schema id of `<topic>-value` are stored. */
import { describe, expect, it } from 'vitest'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { openLog } from '../../core/open-log.ts'
import { SchemaRegistry } from '../../core/schemas/registry.ts'
import { encodeWireFormat } from '../../core/schemas/serde.ts'

const order = JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }] })
const other = JSON.stringify({ type: 'record', name: 'Other', fields: [{ name: 'n', type: 'int' }] })
const bytes = (s: string) => new TextEncoder().encode(s)

describe('broker-side schema validation', () => {
  it('stores records with a live id of <topic>-value, refuses the rest typed and stores nothing of them', async () => {
    const log = await openLog({ storage: new MemoryStorage() })
    const registry = new SchemaRegistry(log.broker)
    const { id } = await registry.register('orders-value', { schema: order })
    const { id: otherId } = await registry.register('payments-value', { schema: other })
    await log.admin().createTopics({ topics: [{ topic: 'orders', configEntries: [{ name: 'confluent.value.schema.validation', value: 'true' }] }] })
    const producer = log.producer()
    await producer.send({ topic: 'orders', messages: [{ key: 'o1', value: encodeWireFormat(id, bytes('payload')) }, { key: 'o0', value: null }] })
    await expect(producer.send({ topic: 'orders', messages: [{ value: '{"id":"plain json"}' }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 'orders', messages: [{ value: encodeWireFormat(otherId, bytes('x')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    await expect(producer.send({ topic: 'orders', messages: [{ value: encodeWireFormat(9_999, bytes('x')) }] })).rejects.toMatchObject({ code: 'INVALID_RECORD' })
    // A schema registered after the validator read the registry is found (it reads what is new).
    const { id: v2 } = await registry.register('orders-value', { schema: JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'id', type: 'string' }, { name: 'note', type: 'string', default: '' }] }) })
    await producer.send({ topic: 'orders', messages: [{ value: encodeWireFormat(v2, bytes('v2')) }] })
    const [{ high }] = await log.admin().fetchTopicOffsets('orders')
    expect(high).toBe('3')
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
