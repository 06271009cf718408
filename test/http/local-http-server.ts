/**
 * A small node:http server speaking the part of the v1 API that `edgelog/http` uses, over an
 * in-process log (openLog + MemoryStorage), for Node-side tests that need a real socket without
 * `wrangler dev`: faults injected per request (drop the connection mid-body, truncate, hang,
 * answer 502 with HTML, handle the request and then lose its answer), and "restarts" (every
 * connection reset at once, then the same port served again over the same log, as a server
 * killed and started again on its persisted state).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { openLog } from '../../core/open-log.ts'
import { MemoryStorage } from '../../adapters/memory/index.ts'
import { EdgelogError, ERROR_CODES, isEdgelogError } from '../../core/errors.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import { splitBatches } from '../../core/codec/record-batch.ts'
import type { Broker } from '../../core/broker.ts'
import type { EdgelogClient } from '../../core/client/client.ts'

const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch'

/**
 * What to do to one request:
 * - 'refuse': reset the connection before anything is read (as a dead server's port);
 * - 'drop-headers': read it, then close the connection without an answer;
 * - 'drop-mid-body': answer 200 with a Content-Length, send half the body, destroy the socket;
 * - 'truncate': answer 200 with half of a JSON body (and a Content-Length that says so);
 * - 'hang': never answer (a half-open connection, a stuck server);
 * - 'html-502': a proxy's error page;
 * - 'lose-answer': handle the request (its effect is stored), then reset the connection.
 */
export type Fault = 'refuse' | 'drop-headers' | 'drop-mid-body' | 'truncate' | 'hang' | 'html-502' | 'lose-answer'

export interface LocalHttpServer {
  url: string
  port: number
  log: EdgelogClient
  /** Decides a fault per request (undefined: answer normally). */
  fault: ((method: string, path: string) => Fault | undefined) | null
  /** Requests seen, as "METHOD /path". */
  readonly requests: string[]
  /** Resets every connection and stops listening (the process "dies"); the log's state stays. */
  kill(): Promise<void>
  /** Listens again on the same port. */
  restart(): Promise<void>
  close(): Promise<void>
}

export async function startLocalHttpServer(options: { port?: number; settings?: Record<string, unknown> } = {}): Promise<LocalHttpServer> {
  const log = await openLog({ storage: new MemoryStorage(), settings: options.settings as never })
  const broker = log.broker
  const sockets = new Set<Socket>()
  const requests: string[] = []
  let server: Server
  let port = options.port ?? 0

  const self: LocalHttpServer = {
    url: '',
    port: 0,
    log,
    fault: null,
    requests,
    async kill() {
      for (const s of sockets) s.resetAndDestroy()
      sockets.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
    async restart() {
      await listen()
    },
    async close() {
      for (const s of sockets) s.destroy()
      sockets.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await log.close()
    },
  }

  const listen = () => new Promise<void>((resolve, reject) => {
    server = createServer((req, res) => { void handle(req, res) })
    server.keepAliveTimeout = 60_000
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
    })
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      port = (server.address() as { port: number }).port
      self.port = port
      self.url = `http://127.0.0.1:${port}`
      resolve()
    })
  })

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local')
    const what = `${req.method} ${url.pathname}`
    requests.push(what)
    const fault = self.fault?.(req.method ?? 'GET', url.pathname)
    if (fault === 'refuse') return void req.socket.resetAndDestroy()
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = new Uint8Array(Buffer.concat(chunks))
    if (fault === 'drop-headers') return void req.socket.destroy()
    if (fault === 'hang') return
    if (fault === 'html-502') {
      res.writeHead(502, { 'content-type': 'text/html' })
      return void res.end('<html><body><h1>502 Bad Gateway</h1></body></html>')
    }
    // The request reaches the log only if the server stays up meanwhile (a killed server stops it).
    const abort = new AbortController()
    res.on('close', () => abort.abort())
    let answer: { status: number; headers: Record<string, string>; body: Uint8Array }
    try {
      answer = await route(broker, req.method ?? 'GET', url, body, abort.signal)
    } catch (error) {
      const e = isEdgelogError(error) ? error : new EdgelogError('UNKNOWN_SERVER_ERROR', String(error))
      const extra = (e as EdgelogError & { body?: object }).body ?? {}
      answer = json(ERROR_CODES[e.code]?.status ?? 500, { ...extra, error: { code: e.code, message: e.message } })
    }
    if (fault === 'lose-answer') return void req.socket.resetAndDestroy()
    if (fault === 'drop-mid-body' || fault === 'truncate') {
      const half = answer.body.subarray(0, Math.max(1, answer.body.byteLength >> 1))
      if (fault === 'truncate') {
        res.writeHead(200, { ...answer.headers, 'content-length': String(half.byteLength) })
        return void res.end(half)
      }
      res.writeHead(200, { ...answer.headers, 'content-length': String(answer.body.byteLength) })
      res.write(half, () => setTimeout(() => req.socket.destroy(), 20))
      return
    }
    if (res.destroyed) return
    res.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.byteLength) })
    res.end(answer.body)
  }

  await listen()
  return self
}

function json(status: number, value: unknown) {
  return { status, headers: { 'content-type': 'application/json' }, body: new TextEncoder().encode(JSON.stringify(value)) }
}

function parse(body: Uint8Array): any {
  return body.byteLength === 0 ? {} : JSON.parse(new TextDecoder().decode(body))
}

async function route(broker: Broker, method: string, url: URL, body: Uint8Array, signal: AbortSignal) {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent) // v1, ...
  const q = url.searchParams
  const [, a, b, c, d, e] = parts
  if (a === 'cluster' && method === 'GET') return json(200, await broker.describeCluster())
  if (a === 'producers' && method === 'POST') return json(200, await broker.initProducerId({}))
  if (a === 'metadata' && method === 'POST') return json(200, { topics: await broker.metadata(parse(body)) })
  if (a === 'topics' && b === undefined && method === 'POST') {
    const { topics, validateOnly } = parse(body)
    return json(200, { results: await broker.createTopics({ topics, validateOnly }) })
  }
  if (a === 'topics' && b !== undefined && c === undefined) {
    if (method === 'GET') return json(200, { partitions: await broker.describePartitions({ topic: b }) })
    if (method === 'DELETE') { await broker.deleteTopics({ topics: [b] }); return json(200, { deleted: b }) }
    if (method === 'PATCH') {
      const { partitions, config } = parse(body)
      if (partitions !== undefined) await broker.createPartitions({ topicPartitions: [{ topic: b, count: partitions }] })
      const altered = config === undefined ? undefined : await broker.alterConfigs({ topic: b, configEntries: Object.entries(config).map(([name, value]) => ({ name, value: value as string | null })) })
      const [meta] = await broker.metadata({ topics: [b] })
      return json(200, { name: b, partitions: meta.partitions.length, config: altered ?? meta.config })
    }
  }
  if (a === 'topics' && c === 'offsets' && method === 'GET') {
    const at = q.get('at') ?? 'latest'
    const spec = at === 'earliest' || at === 'latest' ? at : { timestamp: Number(at) }
    const partitions = q.get('partitions')?.split(',').map(Number)
    const isolationLevel = q.get('isolation') === 'read_committed' ? 1 : 0
    return json(200, { offsets: await broker.listOffsets({ topic: b, partitions: partitions as number[], spec, isolationLevel }) })
  }
  if (a === 'topics' && c === 'partitions' && e === 'records') {
    const partition = Number(d)
    if (method === 'POST') {
      const acks = Number(q.get('acks') ?? -1) as -1 | 0 | 1
      const batches = splitBatches(body)
      const results = await broker.produce({ acks, entries: batches.map((batch) => ({ topic: b, partition, batch })) })
      const out = results.map((r) => (r.error ? { partition, error: r.error } : { partition, baseOffset: r.baseOffset }))
      const failure = results.find((r) => r.error)
      if (failure) return json(ERROR_CODES[failure.error!.code]?.status ?? 500, { error: failure.error, batches: out })
      return json(200, { batches: out })
    }
    if (method === 'GET') {
      const result = await broker.fetch({
        topic: b, partition, offset: Number(q.get('offset') ?? 0), maxBytes: Number(q.get('maxBytes') ?? 1 << 20),
        maxWaitMs: Number(q.get('maxWaitMs') ?? 0), minBytes: Number(q.get('minBytes') ?? 1),
        isolationLevel: q.get('isolation') === 'read_committed' ? 1 : 0,
      }, { signal })
      return {
        status: 200,
        headers: {
          'content-type': RECORD_BATCH_TYPE,
          'edgelog-high-watermark': String(result.highWatermark),
          'edgelog-log-start-offset': String(result.logStartOffset),
          'edgelog-batch-count': String(result.batches.length),
          // read_committed (the Worker's answer too): where the reader stops, and what it drops.
          ...(result.abortedTransactions ? {
            'edgelog-last-stable-offset': String(result.lastStableOffset),
            'edgelog-aborted-transactions': JSON.stringify(result.abortedTransactions),
          } : {}),
        },
        body: concatBytes(result.batches),
      }
    }
  }
  if (a === 'groups') {
    if (b === undefined && method === 'GET') return json(200, { groups: await broker.listGroups() })
    if (c === 'heartbeat' && method === 'POST') return json(200, await broker.groupHeartbeat({ ...parse(body), groupId: b }))
    if (c === 'offsets' && method === 'POST') {
      const { memberId, memberEpoch, offsets } = parse(body)
      await broker.commitOffsets({ groupId: b, memberId, memberEpoch, offsets })
      return json(200, { committed: offsets.length })
    }
    if (c === 'offsets' && method === 'GET') {
      const topics = q.get('topics')?.split(',').filter(Boolean)
      return json(200, { offsets: await broker.fetchOffsets({ groupId: b, topics }) })
    }
    if (c === undefined && method === 'GET') {
      const [description] = await broker.describeGroups({ groupIds: [b] })
      const offsets = await broker.groupLag({ groupId: b })
      if (description.state === 'Dead' && offsets.length === 0) throw new EdgelogError('GROUP_ID_NOT_FOUND', `Group '${b}' does not exist`)
      return json(200, { ...description, offsets, lag: 0 })
    }
    if (c === undefined && method === 'DELETE') {
      const [result] = await broker.deleteGroups({ groupIds: [b] })
      if (result.error) throw new EdgelogError(result.error.code, result.error.message)
      return json(200, { deleted: b })
    }
  }
  throw new EdgelogError('INVALID_REQUEST', `No route ${method} ${url.pathname}`)
}
