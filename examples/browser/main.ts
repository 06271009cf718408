// A page with its own log: IndexedDB in a Web Worker. `npx vite examples/browser`, then open the printed URL.
import { openBrowserLog } from 'edgelog/indexeddb'
const log = await openBrowserLog({ name: 'app' })                // IndexedDB in a Web Worker

const out = document.getElementById('out')!
const print = (line: string) => { out.textContent += `${line}\n` }

const admin = log.admin()
if (!(await admin.listTopics()).includes('visits')) await admin.createTopics({ topics: [{ topic: 'visits', numPartitions: 1 }] })
const producer = log.producer({ idempotent: true })
const [sent] = await producer.send({ topic: 'visits', messages: [{ key: 'page', value: `visited at ${new Date().toISOString()}` }] })
print(`stored at visits-${sent.partition}, offset ${sent.baseOffset} (reload: the log keeps every visit)`)

const consumer = log.consumer()                                  // no group: reads the whole topic
await consumer.subscribe({ topics: ['visits'], fromBeginning: true })
await new Promise<void>((done) => {
  void consumer.run({ eachMessage: async ({ message }) => {
    print(`${message.offset}: ${message.value?.toString()}`)
    if (message.offset === sent.baseOffset) done()
  } })
})
await consumer.disconnect()
document.body.dataset.done = 'true'
