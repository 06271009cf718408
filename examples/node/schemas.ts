// Schemas in process: the registry in the log's own `_schemas` topic, and a producer and a
// consumer that serialize Avro in Confluent's wire format themselves. Run: npx tsx examples/node/schemas.ts
import { openLog } from 'edgelog'
import { MemoryStorage } from 'edgelog/memory'
import { SchemaRegistry, SchemaSerde } from 'edgelog/schemas'

interface Order { id: number; item: string }

const log = await openLog({ storage: new MemoryStorage() })
const registry = new SchemaRegistry(log.broker)       // at the edge: new RegistryClient({ url: 'http://127.0.0.1:8787' })
await registry.register('orders-value', { schema: JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'id', type: 'long' }, { name: 'item', type: 'string' }] }) })

const serde = new SchemaSerde(registry)               // schemas cached: no lookup per record
const producer = log.producer({ serializers: { value: serde.serializer<Order>() } })     // subject <topic>-value
await producer.send({ topic: 'orders', messages: [{ key: 'o1', value: { id: 1, item: 'book' } }] })

const consumer = log.consumer({ groupId: 'billing', deserializers: { value: serde.deserializer<Order>() } })
await consumer.subscribe({ topics: ['orders'], fromBeginning: true })
await new Promise<void>((done) => {
  void consumer.run({ eachMessage: async ({ message }) => {
    console.log(message.value?.item)   // book
    done()
  } })
})
await log.close()
