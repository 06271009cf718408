/**
 * The comlink boundary of edgelog/indexeddb when things go wrong: a worker that dies, stops
 * answering or fails to start, an answer that cannot be read, a request that cannot be cloned,
 * a close with calls in flight. comlink alone leaves such calls pending for ever; each must end
 * as an EdgelogError with the right `retriable`. The "worker" is the BrokerHost on one end of a
 * MessageChannel over fake-indexeddb, as in indexeddb-worker.test.ts.
 */
import 'fake-indexeddb/auto'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageChannel, type MessagePort } from 'node:worker_threads'
import { transferHandlers } from 'comlink'
import { openBrowserLog, serveLog } from '../../adapters/indexeddb/index.ts'
import { toBoundaryError, installErrorTransfer } from '../../adapters/indexeddb/comlink-errors.ts'
import { isEdgelogError, type EdgelogError } from '../../core/errors.ts'
import type { EdgelogClient } from '../../core/client/client.ts'

let n = 0
const opened: EdgelogClient[] = []
afterEach(async () => {
  for (const log of opened.splice(0)) await log.close().catch(() => {})
})

type Listener = (event: Event) => void

/**
 * A Worker-like page end: messages go to a BrokerHost served on the other port, unless the
 * worker is `dead` (it then drops everything, as a crashed or hung worker does, with no event).
 * `emit` dispatches an event of the page's own (error, messageerror, close).
 */
class FakeWorker {
  dead = false
  terminated = false
  private readonly port: MessagePort
  private readonly local = new EventTarget()
  constructor(options: { serve?: boolean } = {}) {
    const { port1, port2 } = new MessageChannel()
    this.port = port2
    if (options.serve !== false) {
      // The worker's side: a host whose every message is dropped once the worker is dead.
      const host = {
        postMessage: (msg: unknown, transfer?: Transferable[]) => { if (!this.dead) port1.postMessage(msg, transfer as never) },
        addEventListener: (type: string, listener: Listener) => port1.addEventListener(type, (e: Event) => { if (!this.dead) listener(e) }),
        removeEventListener: () => {},
        start: () => port1.start(),
      }
      serveLog(host as unknown as Parameters<typeof serveLog>[0])
    }
  }
  postMessage(msg: unknown, transfer?: Transferable[]) { this.port.postMessage(msg, transfer as never) }
  addEventListener(type: string, listener: Listener) {
    if (type === 'message') this.port.addEventListener('message', listener as never)
    else this.local.addEventListener(type, listener)
  }
  removeEventListener(type: string, listener: Listener) {
    if (type === 'message') this.port.removeEventListener('message', listener as never)
    else this.local.removeEventListener(type, listener)
  }
  start() { this.port.start() }
  terminate() { this.terminated = true; this.port.close() }
  emit(type: string, init: Record<string, unknown> = {}) { this.local.dispatchEvent(Object.assign(new Event(type), init)) }
}

async function open(worker: FakeWorker, livenessTimeoutMs?: number): Promise<EdgelogClient> {
  const log = await openBrowserLog({ name: `worker-failures-${Date.now()}-${++n}`, worker: worker as unknown as Worker, livenessTimeoutMs })
  opened.push(log)
  await log.admin().createTopics({ topics: [{ topic: 't', numPartitions: 1 }] })
  return log
}

async function failure(p: Promise<unknown>): Promise<EdgelogError> {
  const error = await p.then(() => { throw new Error('expected a rejection') }, (e) => e)
  expect(isEdgelogError(error), `${error}`).toBe(true)
  return error as EdgelogError
}

const parkedFetch = (log: EdgelogClient) => log.broker.fetch({ topic: 't', partition: 0, offset: 0, maxBytes: 1 << 20, maxWaitMs: 30_000 })

describe('openBrowserLog: a worker that goes away fails every call, typed', () => {
  it('a worker that stops answering (crashed, killed, hung: no event): calls in flight and later fail, not retriable', async () => {
    const worker = new FakeWorker()
    const log = await open(worker, 300)
    const parked = parkedFetch(log)
    const started = Date.now()
    worker.dead = true
    const e = await failure(parked)
    expect(e).toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
    expect(e.message).toMatch(/not answered/)
    expect(Date.now() - started).toBeLessThan(3_000)
    expect(await failure(log.broker.metadata({}))).toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
    expect(worker.terminated).toBe(true) // released: nothing of it is kept running
  })

  it('a worker that closes its channel: the calls in flight fail at once', async () => {
    const worker = new FakeWorker()
    const log = await open(worker)
    const parked = parkedFetch(log)
    worker.emit('close')
    expect(await failure(parked)).toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
  })

  it('a worker whose script fails to start: openBrowserLog rejects instead of waiting for ever', async () => {
    const worker = new FakeWorker({ serve: false })
    const opening = openBrowserLog({ name: `never-${++n}`, worker: worker as unknown as Worker })
    setTimeout(() => worker.emit('error', { message: 'SyntaxError: Unexpected token' }), 20)
    const e = await failure(opening)
    expect(e).toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
    expect(e.message).toMatch(/failed to start: SyntaxError/)
    expect(worker.terminated).toBe(true)
  })

  it('an uncaught error in a live worker does not end the log', async () => {
    const worker = new FakeWorker()
    const log = await open(worker)
    worker.emit('error', { message: 'something in a callback' })
    expect((await log.broker.metadata({})).map((t) => t.name)).toEqual(['t'])
  })

  it('an answer that cannot be read (messageerror): the calls in flight fail retriable, the log goes on', async () => {
    const worker = new FakeWorker()
    const log = await open(worker)
    const parked = parkedFetch(log)
    await new Promise((r) => setTimeout(r, 20))
    worker.emit('messageerror')
    expect(await failure(parked)).toMatchObject({ code: 'STORAGE_ERROR', retriable: true })
    expect((await log.broker.metadata({})).map((t) => t.name)).toEqual(['t'])
  })

  it('close() with a long poll in flight: it fails with CLOSED instead of hanging (comlink drops its listeners)', async () => {
    const worker = new FakeWorker()
    const log = await open(worker)
    const parked = parkedFetch(log)
    await new Promise((r) => setTimeout(r, 20))
    await log.close()
    expect(await failure(parked)).toMatchObject({ code: 'CLOSED', retriable: false })
    expect(await failure(log.broker.metadata({}))).toMatchObject({ code: 'CLOSED' })
  })

  it('a consumer reading through a worker that dies crashes (an event), it does not wait for ever', async () => {
    const worker = new FakeWorker()
    const log = await open(worker, 300)
    const consumer = log.consumer({ groupId: 'g', maxWaitTimeInMs: 10_000, heartbeatInterval: 100 })
    const crashes: Array<{ error: unknown }> = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
    await consumer.subscribe({ topics: ['t'], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    worker.dead = true
    const deadline = Date.now() + 5_000
    while (crashes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(crashes[0]?.error).toMatchObject({ code: 'STORAGE_ERROR', retriable: false })
  })
})

describe('the comlink boundary: errors that are not the log\'s own', () => {
  it('a request that cannot be cloned to the worker: INVALID_REQUEST, not retriable', async () => {
    const log = await open(new FakeWorker())
    const e = await failure(log.broker.createTopics({ topics: [{ topic: 'x', configEntries: [{ name: 'retention.ms', value: (() => 1) as never }] }] }))
    expect(e).toMatchObject({ code: 'INVALID_REQUEST', retriable: false })
    expect((await log.broker.metadata({})).map((t) => t.name)).toEqual(['t']) // nothing else is hurt
  })

  it('toBoundaryError: comlink\'s and the worker\'s other errors', () => {
    expect(toBoundaryError(new TypeError('Unserializable return value'), 'fetch')).toMatchObject({ code: 'UNKNOWN_SERVER_ERROR', retriable: false })
    expect(toBoundaryError(new Error('Proxy has been released and is not useable'), 'fetch')).toMatchObject({ code: 'CLOSED', retriable: false })
    expect(toBoundaryError(Object.assign(new Error('quota'), { name: 'QuotaExceededError' }), 'produce')).toMatchObject({ code: 'STORAGE_QUOTA_EXCEEDED', retriable: false })
    expect(toBoundaryError(Object.assign(new Error('x'), { name: 'DataCloneError' }), 'produce')).toMatchObject({ code: 'INVALID_REQUEST', retriable: false })
    expect(toBoundaryError('a string', 'metadata')).toMatchObject({ code: 'UNKNOWN_SERVER_ERROR' })
  })

  it('errors from another library\'s comlink worker on the page still reach it as comlink sends them', () => {
    installErrorTransfer()
    const handler = transferHandlers.get('throw')!
    // comlink's own wire shape, from a worker that does not install edgelog's handler
    const thrown = (() => { try { handler.deserialize({ isError: true, value: { name: 'Error', message: 'theirs', stack: '' } }) } catch (e) { return e } })()
    expect(thrown).toBeInstanceOf(Error)
    expect((thrown as Error).message).toBe('theirs')
  })
})
