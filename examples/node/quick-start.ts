import { openLog } from 'edgelog'
import { MemoryStorage } from 'edgelog/memory'

const log = await openLog({ storage: new MemoryStorage() })      // in process

const admin = log.admin()
await admin.createTopics({ topics: [{ topic: 'email', numPartitions: 3 }] })

const producer = log.producer({ idempotent: true })
await producer.connect()
const sent = await producer.send({ topic: 'email', messages: [{ key: 'u1', value: 'hi', headers: { h: 'v' } }] })
console.log(sent)   // [{ topicName: 'email', partition: 1, errorCode: 0, baseOffset: '0', … }]

const consumer = log.consumer({ groupId: 'mailer' })
await consumer.connect()
await consumer.subscribe({ topics: ['email'], fromBeginning: true })
await new Promise<void>((done) => {
  void consumer.run({ eachMessage: async ({ partition, message }) => {
    console.log(partition, message.offset, message.key?.toString(), message.value?.toString())   // 1 0 u1 hi
    done()
  } })
})
await log.close()
