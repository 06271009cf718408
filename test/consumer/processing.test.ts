/**
 * Processing through run(): at-least-once retries and CRASH, autoCommit by interval and
 * threshold, manual commits, the eachBatch helpers, seek, pause/resume and the events.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { FAST, sleep, until, world, type World } from './helpers.ts'

let w: World
afterEach(async () => { await w?.close() })

describe('at least once', () => {
  it('a message whose handler throws is read again; nothing is skipped and what came before is committed', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 10)
    const attempts = new Map<number, number>()
    const done: number[] = []
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 5, initialRetryTime: 5 } })
    const commits: string[] = []
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => commits.push(e.payload.topics[0].partitions[0].offset))
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const o = Number(message.offset)
        attempts.set(o, (attempts.get(o) ?? 0) + 1)
        if (o === 4 && attempts.get(o)! <= 2) throw new Error('flaky')
        done.push(o)
      },
    })
    await until(() => done.length === 10)
    expect(done).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(attempts.get(4)).toBe(3)
    expect(attempts.get(3)).toBe(1)
    expect(commits[0]).toBe('4') // before retrying 4, what came before was committed
    await until(async () => (await w.committed('g', 't'))[0] === 10)
  })

  it('after the retries are exhausted CRASH fires with the error; the failed message is not committed', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 5)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 2, initialRetryTime: 5 } })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    let calls = 0
    const boom = new Error('poison')
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { if (message.offset === '2') { calls++; throw boom } } })
    await until(() => crashes.length === 1)
    expect(crashes[0]).toMatchObject({ error: boom, groupId: 'g', restart: false })
    expect(calls).toBe(3) // the first try and 2 retries
    expect(await w.committed('g', 't')).toEqual({ 0: 2 })
    // The consumer left the group; a new one starts at the failed message.
    const { consumer: next } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await next.subscribe({ topics: ['t'] })
    await next.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 3)
    expect(seen).toEqual(['2', '3', '4'])
  })

  it('restartOnFailure: true restarts the consumer after a crash, from the committed offset', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 0, initialRetryTime: 5, restartOnFailure: async () => true } })
    const crashes: any[] = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    const seen: string[] = []
    let failed = false
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { if (message.offset === '1' && !failed) { failed = true; throw new Error('once') } seen.push(message.offset) } })
    await until(() => seen.length === 3)
    expect(seen).toEqual(['0', '1', '2'])
    expect(crashes).toHaveLength(1)
    expect(crashes[0].restart).toBe(true)
  })

  it('eachBatch that throws is retried from the last resolved offset', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 6)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', retry: { retries: 3, initialRetryTime: 5 } })
    const processed: string[] = []
    let failed = false
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset }) => {
        for (const m of batch.messages) {
          if (m.offset === '3' && !failed) { failed = true; throw new Error('once') }
          processed.push(m.offset)
          resolveOffset(m.offset)
        }
      },
    })
    await until(() => processed.length === 6)
    expect(processed).toEqual(['0', '1', '2', '3', '4', '5'])
  })
})

describe('commits', () => {
  it('autoCommitThreshold commits every n resolved offsets, and at the end of the batch', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 10)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const commits: string[] = []
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => commits.push(e.payload.topics[0].partitions[0].offset))
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ autoCommitThreshold: 3, eachMessage: async () => {} })
    await until(() => commits.includes('10'))
    expect(commits).toEqual(['3', '6', '9', '10'])
  })

  it('autoCommitInterval commits when the interval has passed', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 6)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const commits: string[] = []
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => commits.push(e.payload.topics[0].partitions[0].offset))
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ autoCommitInterval: 40, eachMessage: async () => { await sleep(25) } })
    await until(() => commits.includes('6'))
    // 25 ms a message, 40 ms between commits: a commit every second message or so, not every one.
    expect(commits.length).toBeGreaterThanOrEqual(2)
    expect(commits.length).toBeLessThan(6)
    expect(commits.map(Number)).toEqual([...commits.map(Number)].sort((a, b) => a - b))
  })

  it('autoCommit: false commits nothing until commitOffsets is called', async () => {
    w = await world({ t: 2 })
    await w.produce('t', 0, 3)
    await w.produce('t', 1, 3)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ autoCommit: false, eachMessage: async ({ partition, message }) => { seen.push(`${partition}/${message.offset}`) } })
    await until(() => seen.length === 6)
    await sleep(50)
    expect(await w.committed('g', 't')).toEqual({ 0: -1, 1: -1 })
    await consumer.commitOffsets([{ topic: 't', partition: 0, offset: '2', metadata: 'halfway' }])
    expect(await w.committed('g', 't')).toEqual({ 0: 2, 1: -1 })
    const [t] = await w.log.admin().fetchOffsets({ groupId: 'g', topics: ['t'] })
    expect(t.partitions[0].metadata).toBe('halfway')
  })

  it('eachBatch: resolveOffset, uncommittedOffsets, commitOffsetsIfNecessary, isRunning, isStale, heartbeat', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 5)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const observed: any[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async (p) => {
        expect(p.batch.topic).toBe('t')
        expect(p.batch.firstOffset()).toBe('0')
        expect(p.batch.lastOffset()).toBe('4')
        expect(p.batch.highWatermark).toBe('5')
        expect(p.batch.offsetLagLow()).toBe('4')
        observed.push({ running: p.isRunning(), stale: p.isStale(), before: p.uncommittedOffsets() })
        p.resolveOffset('2')
        observed.push(p.uncommittedOffsets())
        await p.heartbeat()
        await p.commitOffsetsIfNecessary()
        observed.push(p.uncommittedOffsets())
        p.resolveOffset('4')
        // KafkaJS's shape: what uncommittedOffsets() returns
        await p.commitOffsetsIfNecessary(p.uncommittedOffsets())
      },
    })
    await until(() => observed.length === 3)
    expect(observed[0]).toEqual({ running: true, stale: false, before: { topics: [] } })
    expect(observed[1]).toEqual({ topics: [{ topic: 't', partitions: [{ partition: 0, offset: '3' }] }] })
    expect(observed[2]).toEqual({ topics: [] })
    await until(async () => (await w.committed('g', 't'))[0] === 5)
  })

  it('eachBatch without eachBatchAutoResolve re-reads what was not resolved', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 4)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const firsts: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset }) => {
        firsts.push(batch.firstOffset()!)
        resolveOffset(batch.messages[0].offset) // one at a time
      },
    })
    await until(() => firsts.length === 4)
    expect(firsts).toEqual(['0', '1', '2', '3'])
  })
})

describe('seek, pause, resume', () => {
  it('seek while running moves the position (and the committed offset, with autoCommit)', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 10)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => { seen.push(message.offset) } })
    await until(() => seen.length === 10)
    consumer.seek({ topic: 't', partition: 0, offset: '3' })
    await until(() => seen.length === 17)
    expect(seen.slice(10)).toEqual(['3', '4', '5', '6', '7', '8', '9'])
    await until(async () => (await w.committed('g', 't'))[0] === 10)
    // In the middle of a batch: the rest of the batch is dropped, reading goes on from the target.
    seen.length = 0
    consumer.seek({ topic: 't', partition: 0, offset: '0' })
    await until(() => seen.length === 10)
    expect(seen).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'])
    expect(() => consumer.seek({ topic: 't', partition: 0, offset: '-5' })).toThrow(expect.objectContaining({ code: 'OFFSET_OUT_OF_RANGE' }))
    expect(() => consumer.seek({ topic: 't', partition: 0, offset: 'abc' })).toThrow(expect.objectContaining({ code: 'OFFSET_OUT_OF_RANGE' }))
  })

  it('seek to an offset during eachMessage: no later message of the old position is processed', async () => {
    w = await world({ t: 1 })
    await w.produce('t', 0, 10)
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    let once = true
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.offset)
        if (message.offset === '5' && once) { once = false; consumer.seek({ topic: 't', partition: 0, offset: '8' }) }
      },
    })
    await until(() => seen.length === 8)
    expect(seen).toEqual(['0', '1', '2', '3', '4', '5', '8', '9'])
    await until(async () => (await w.committed('g', 't'))[0] === 10)
  })

  it('pause stops delivery of a partition, resume continues where it stopped; paused() lists them', async () => {
    w = await world({ t: 2 })
    const { consumer } = w.consumer({ ...FAST, groupId: 'g' })
    const seen: string[] = []
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ partition, message }) => { seen.push(`${partition}/${message.offset}`) } })
    await until(async () => (await consumer.describeGroup()).state === 'Stable')
    consumer.pause([{ topic: 't', partitions: [1] }])
    expect(consumer.paused()).toEqual([{ topic: 't', partitions: [1] }])
    await w.produce('t', 0, 3)
    await w.produce('t', 1, 3)
    await until(() => seen.length === 3)
    await sleep(100)
    expect(seen).toEqual(['0/0', '0/1', '0/2'])
    consumer.resume([{ topic: 't', partitions: [1] }])
    expect(consumer.paused()).toEqual([])
    await until(() => seen.length === 6)
    expect(seen.slice(3)).toEqual(['1/0', '1/1', '1/2'])
    // The pause() handed to eachMessage pauses its own partition after the current message.
    let resumeFn: (() => void) | null = null
    await consumer.stop()
    seen.length = 0
    await consumer.run({
      eachMessage: async ({ partition, message, pause }) => {
        seen.push(`${partition}/${message.offset}`)
        if (partition === 0 && message.offset === '3') resumeFn = pause()
      },
    })
    await w.produce('t', 0, 3)
    await until(() => resumeFn !== null)
    await sleep(60)
    expect(seen).toEqual(['0/3'])
    expect(consumer.paused()).toEqual([{ topic: 't', partitions: [0] }])
    resumeFn!()
    await until(() => seen.length === 3)
    expect(seen).toEqual(['0/3', '0/4', '0/5'])
    expect(() => consumer.pause('t' as never)).toThrow(expect.objectContaining({ code: 'INVALID_REQUEST' }))
  })
})

describe('events', () => {
  it('GROUP_JOIN, FETCH, START/END_BATCH_PROCESS, COMMIT_OFFSETS, HEARTBEAT, REBALANCING, STOP, DISCONNECT', async () => {
    w = await world({ t: 2 })
    const { consumer } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['roundrobin'] })
    const events: Record<string, any[]> = {}
    for (const [name, type] of Object.entries(consumer.events)) consumer.on(type, (e) => { (events[name] ??= []).push(e) })
    await consumer.connect()
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    await w.produce('t', 0, 2)
    await until(() => (events.COMMIT_OFFSETS?.length ?? 0) > 0)
    await until(() => (events.HEARTBEAT?.length ?? 0) > 1)
    expect(events.CONNECT).toHaveLength(1)
    expect(events.GROUP_JOIN[0].payload).toMatchObject({ groupId: 'g', memberAssignment: { t: [0, 1] }, groupProtocol: 'roundrobin' })
    expect(typeof events.GROUP_JOIN[0].payload.memberId).toBe('string')
    expect(events.FETCH[0].payload).toMatchObject({ topic: 't' })
    expect(events.START_BATCH_PROCESS[0].payload).toMatchObject({ topic: 't', partition: 0, batchSize: 2, firstOffset: '0', lastOffset: '1' })
    expect(events.END_BATCH_PROCESS[0].payload).toMatchObject({ topic: 't', partition: 0, batchSize: 2 })
    expect(events.COMMIT_OFFSETS[0].payload).toMatchObject({ groupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '2' }] }] })
    expect(events.HEARTBEAT[0].payload).toMatchObject({ groupId: 'g' })
    for (const e of events.FETCH) expect(e).toMatchObject({ type: 'consumer.fetch', id: expect.any(Number), timestamp: expect.any(Number) })
    // A second member makes the first give a partition up: REBALANCING, then GROUP_JOIN with one partition.
    const { consumer: other } = w.consumer({ ...FAST, groupId: 'g', partitionAssigners: ['roundrobin'] })
    await other.subscribe({ topics: ['t'] })
    await other.run({ eachMessage: async () => {} })
    await until(() => events.GROUP_JOIN.length === 2)
    expect(events.REBALANCING.length).toBeGreaterThanOrEqual(1)
    expect(Object.values(events.GROUP_JOIN[1].payload.memberAssignment)[0]).toHaveLength(1)
    await consumer.disconnect()
    expect(events.STOP).toHaveLength(1)
    expect(events.DISCONNECT).toHaveLength(1)
  })
})
