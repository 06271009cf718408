// In a page: the browser's log following topics of an edgelog deployment (docs/sync.md).
import { openBrowserLog } from 'edgelog/indexeddb'
const log = await openBrowserLog({ name: 'app', remote: { url: 'https://log.example.com', token: 'a token of that deployment', follow: ['orders', /^metrics\./] } })

const [sent] = await log.producer().send({ topic: 'orders', messages: [{ key: 'o-1', value: 'two coffees' }] })
console.log(sent.pending)                          // true: in this browser's outbox until the edge has it
console.log(await log.sync.delivered([sent]))      // the edge's offset, once delivered
