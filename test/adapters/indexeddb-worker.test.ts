/**
 * The worker front of edgelog/indexeddb, in Node: the BrokerHost served with comlink on one end
 * of a MessageChannel (as the worker does), openBrowserLog on the other (as the page does),
 * over fake-indexeddb. Real Chromium runs the same through a real Worker (test/browser).
 */
import 'fake-indexeddb/auto'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { openBrowserLog, serveLog, installErrorTransfer } from '../../adapters/indexeddb/index.ts'
import { transferableBuffers } from '../../adapters/indexeddb/host.ts'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { EdgelogClient } from '../../core/client/client.ts'

let n = 0
const opened: EdgelogClient[] = []
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => {})
})

/** A "worker": the host on port1, the page's Worker-like handle on port2. */
function fakeWorker(): Worker {
  const { port1, port2 } = new MessageChannel()
  serveLog(port1 as unknown as Parameters<typeof serveLog>[0])
  const page = port2 as MessagePort & { terminate?: () => void }
  page.terminate = () => { port1.close(); port2.close() }
  return page as unknown as Worker
}

async function open(): Promise<EdgelogClient> {
  const log = await openBrowserLog({ name: `worker-front-${Date.now()}-${++n}`, worker: fakeWorker })
  opened.push(log)
  return log
}

describe('openBrowserLog over a message channel', () => {
  it('produces and fetches through the proxy', async () => {
    const log = await open()
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const producer = log.producer()
    await producer.connect()
    const [r] = await producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] })
    expect(r).toMatchObject({ topicName: 't', partition: 0, errorCode: 0, baseOffset: '0' })
    const fetched = await log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20 })
    expect(fetched.highWatermark).toBe(2)
    expect(fetched.batches).toHaveLength(1)
    expect(fetched.batches[0]).toBeInstanceOf(Uint8Array)
  })

  it('keeps the producer\'s own batch intact (it is copied, then transferred)', async () => {
    const log = await open()
    await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
    const { encodeBatch } = await import('../../core/codec/record-batch.ts')
    const batch = encodeBatch([{ key: null, value: new Uint8Array([1, 2, 3]), timestamp: Date.now() }])
    const length = batch.byteLength
    const results = await log.broker.produce({ acks: -1, entries: [{ topic: 't', partition: 0, batch }] })
    expect(results[0]).toMatchObject({ errorCode: 0, baseOffset: 0 })
    expect(batch.byteLength).toBe(length) // not detached: a retry could send it again
  })

  it('rejects with an EdgelogError that keeps code and retriable', async () => {
    const log = await open()
    const e1 = await log.admin().createTopics({ topics: [{ topic: 'bad name' }] }).catch((e) => e)
    expect(e1).toBeInstanceOf(EdgelogError)
    expect(e1).toMatchObject({ code: 'INVALID_TOPIC_EXCEPTION', retriable: false })
    const e2 = await log.broker.fetch({ topic: 'missing', partition: 0, offset: 0, maxBytes: 10 }).catch((e) => e)
    expect(isEdgelogError(e2, 'UNKNOWN_TOPIC_OR_PARTITION')).toBe(true)
    expect(e2.retriable).toBe(true)
  })

  it('a closed log answers CLOSED, typed', async () => {
    const log = await open()
    const broker = log.broker
    await broker.close()
    const e = await broker.metadata({}).catch((x) => x)
    expect(e).toMatchObject({ name: 'EdgelogError', code: 'CLOSED' })
  })

  it('installing the error handler twice is harmless', () => {
    installErrorTransfer()
    installErrorTransfer()
  })
})

describe('transferableBuffers', () => {
  it('hands over whole buffers once, copying views on larger or repeated buffers', () => {
    const own = new Uint8Array([1, 2])
    const big = new Uint8Array(8)
    const view = big.subarray(2, 4)
    const { views, buffers } = transferableBuffers([own, view, own])
    expect(views[0]).toBe(own)
    expect(views[1]).not.toBe(view)
    expect(views[1].buffer.byteLength).toBe(2)
    expect(views[2]).not.toBe(own)
    expect(buffers).toHaveLength(3)
    expect(new Set(buffers).size).toBe(3)
  })
})
