import { it } from 'vitest'
import { FAST, sleep, until, world } from './helpers.ts'
it('dbg', async () => {
  const w = await world({ t: 1 })
  await w.produce('t', 0, 5)
  const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 2, initialRetryTime: 5 } })
  for (const ev of ['GROUP_JOIN', 'REBALANCING', 'CRASH', 'STOP', 'COMMIT_OFFSETS'] as const) consumer.on(consumer.events[ev], (e) => console.log(Date.now() % 100000, ev, JSON.stringify(e.payload)))
  await consumer.subscribe({ topics: ['t'], fromBeginning: true })
  await consumer.run({ eachMessage: async ({ message }) => { console.log('msg', message.offset); if (message.offset === '2') { throw new Error('x') } } })
  await sleep(1000)
  await w.close()
}, 10000)
