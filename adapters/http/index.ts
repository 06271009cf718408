/**
 * `edgelog/http`: the remote client. `connect({ url, token })` returns the same KafkaJS-shaped
 * client as `openLog` and `openBrowserLog`, over the Worker's v1 HTTP API: producers send
 * binary Kafka record batches, consumers fetch binary batches with long polls, groups run
 * over the KIP-848 heartbeat route. Server errors become EdgelogError with the same `code`.
 * Web-standard `fetch` only: it runs in browsers, Node 18+, Deno, Bun and Workers.
 */
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { ERROR_CODES, EdgelogError, errorFromJSON, isEdgelogError, type ErrorCode } from '../../core/errors.ts'
import type { TopicConfig } from '../../core/config.ts'
import type {
  Broker, ClusterInfo, CommittedOffset, DeleteRecordsResult, FetchRequest, FetchResult, GroupDescription, GroupHeartbeatRequest,
  GroupHeartbeatResponse, GroupOffsetsWithLag, InitProducerIdRequest, InitProducerIdResult, ListOffsetsResult, OffsetCommit, OffsetSpec,
  PartitionReassignment, PartitionResult, PartitionState, ProduceRequest, ProduceResult, TopicMetadata, TopicPartitions, TopicSpec, TxnProducer,
} from '../../core/broker.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import type { ReplicaPartitionStatus, ReplicaTarget } from '../../core/log/replicas.ts'
import { splitBatches } from '../../core/codec/record-batch.ts'
import { groupEntriesByPartition } from '../../core/log/produce-groups.ts'

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch'

/** KafkaJS's requestTimeout default: how long one request may take, its body included. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
/** The Worker parks a fetch at most this long (its MAX_FETCH_WAIT_MS). */
const MAX_FETCH_WAIT_MS = 60_000

export interface HttpBrokerOptions {
  /** The Worker's origin, e.g. http://127.0.0.1:8787 (the API lives under /v1). */
  url: string
  /** A bearer token of the deployment's EDGELOG_TOKENS. */
  token?: string
  /** Another fetch (tests: the Worker's `SELF.fetch`; or one that adds headers). */
  fetch?: (input: Request) => Promise<Response>
  /**
   * How long one request may take, from sending it to the last byte of its answer (KafkaJS's
   * `requestTimeout`, default 30 s); a long-poll fetch gets its `maxWaitMs` on top. Past it the
   * request is aborted and fails with the retriable REQUEST_TIMED_OUT: a dead server or a
   * half-open connection never leaves a caller waiting for ever.
   */
  requestTimeout?: number
}

export interface ConnectOptions extends HttpBrokerOptions {
  clientId?: string
  /** Producers split sends at this many bytes per batch (default 512 KiB, under the 1 MiB max.message.bytes). */
  preferredBatchBytes?: number
}

const enc = encodeURIComponent

interface RequestInit {
  json?: unknown
  bytes?: Uint8Array
  accept?: string
  /** Time the server may legitimately hold the request (a long poll's maxWaitMs), added to the timeout. */
  waitMs?: number
  /** The caller's cancellation (a consumer stopping aborts its parked fetches). */
  signal?: AbortSignal
}

/** An error of the server's own (a 4xx/5xx answer): passed on as it is, not reclassified. */
const fromServer = new WeakSet<EdgelogError>()

/**
 * Every failure is an EdgelogError (core/errors.ts), whatever stage it happens at:
 * - the connection cannot be made, drops, or the answer's body is cut short (while it is read,
 *   or a 2xx body that does not parse): NETWORK_EXCEPTION, retriable. For a produce this means
 *   the outcome is unknown (the batch may be stored): it is reported as that retriable error,
 *   never as a success; an idempotent producer's retry is then stored once.
 * - no answer within `requestTimeout` (+ maxWaitMs): REQUEST_TIMED_OUT, retriable;
 * - a 4xx/5xx with an edgelog body: that error (its code, its `retriable`); a 5xx without one
 *   (a proxy's 502 page, a restarting server): NETWORK_EXCEPTION, retriable;
 * - after `close()`: CLOSED; a request the caller aborted: NETWORK_EXCEPTION, not retriable.
 */
export class HttpBroker implements Broker {
  private readonly base: string
  private readonly doFetch: (input: Request) => Promise<Response>
  private readonly requestTimeout: number
  private readonly inFlight = new Set<AbortController>()
  private closed = false

  constructor(private readonly options: HttpBrokerOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.doFetch = options.fetch ?? ((request) => fetch(request))
    const timeout = options.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS
    if (!(timeout > 0)) throw new EdgelogError('INVALID_REQUEST', `requestTimeout must be a positive number of ms, got ${String(timeout)}`)
    this.requestTimeout = timeout
  }

  /**
   * One request: sends it, checks the status (a non-2xx answer throws its EdgelogError) and
   * reads the answer with `read`, all under one timeout and one abort, so that the body read
   * is covered as much as the connect.
   */
  private async request<T>(method: string, path: string, init: RequestInit, read: (response: Response) => Promise<T>): Promise<T> {
    const what = `${method} ${path}`
    if (this.closed) throw closedError()
    const headers: Record<string, string> = { accept: init.accept ?? 'application/json' }
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`
    let body: BodyInit | undefined
    if (init.bytes) {
      headers['content-type'] = RECORD_BATCH_TYPE
      body = init.bytes as Uint8Array<ArrayBuffer>
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json'
      try {
        body = JSON.stringify(init.json)
      } catch (error) {
        throw new EdgelogError('INVALID_REQUEST', `${what}: the request body cannot be sent as JSON: ${messageOf(error)}`, { cause: error })
      }
    }
    const abort = new AbortController()
    let request: Request
    try {
      request = new Request(`${this.base}${path}`, { method, headers, body, signal: abort.signal })
    } catch (error) {
      throw new EdgelogError('INVALID_REQUEST', `${what}: cannot make the request: ${messageOf(error)}`, { cause: error })
    }
    const signal = init.signal
    if (signal?.aborted) throw abortedError(what, signal)
    let timedOut = false
    const timeoutMs = this.requestTimeout + (init.waitMs ?? 0)
    const timer = setTimeout(() => { timedOut = true; abort.abort() }, timeoutMs)
    const onAbort = () => abort.abort()
    signal?.addEventListener('abort', onAbort, { once: true })
    this.inFlight.add(abort)
    let stage = 'failed'
    try {
      const response = await this.doFetch(request)
      stage = 'failed while its answer was read'
      if (!response.ok) throw await errorOf(response, what)
      return await read(response)
    } catch (error) {
      if (this.closed) throw closedError(error)
      if (isEdgelogError(error) && fromServer.has(error)) throw error
      if (timedOut) throw new EdgelogError('REQUEST_TIMED_OUT', `${what}: no complete answer within ${timeoutMs} ms`, { cause: error })
      if (signal?.aborted) throw abortedError(what, signal)
      if (isEdgelogError(error)) throw error
      throw new EdgelogError('NETWORK_EXCEPTION', `${what} ${stage}: ${messageOf(error)}`, { cause: error, retriable: true })
    } finally {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      this.inFlight.delete(abort)
    }
  }

  private json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.request(method, path, { json: body }, (response) => readJson<T>(response, `${method} ${path}`))
  }

  async describeCluster(): Promise<ClusterInfo> {
    return this.json('GET', '/v1/cluster')
  }

  async createTopics(req: { topics: TopicSpec[]; validateOnly?: boolean }) {
    return (await this.json<{ results: Array<{ topic: string; created: boolean }> }>('POST', '/v1/topics', { topics: req.topics, validateOnly: req.validateOnly ?? false })).results
  }

  async deleteTopics(req: { topics: string[] }): Promise<void> {
    for (const topic of req.topics) await this.json('DELETE', `/v1/topics/${enc(topic)}`)
  }

  async createPartitions(req: { topicPartitions: Array<{ topic: string; count: number }> }): Promise<void> {
    for (const { topic, count } of req.topicPartitions) await this.json('PATCH', `/v1/topics/${enc(topic)}`, { partitions: count })
  }

  async metadata(req: { topics?: string[]; allowAutoTopicCreation?: boolean } = {}): Promise<TopicMetadata[]> {
    return (await this.json<{ topics: TopicMetadata[] }>('POST', '/v1/metadata', req)).topics
  }

  async alterConfigs(req: { topic: string; configEntries: Array<{ name: string; value: string | null }> }): Promise<TopicConfig> {
    const config = Object.fromEntries(req.configEntries.map((e) => [e.name, e.value]))
    return (await this.json<{ config: TopicConfig }>('PATCH', `/v1/topics/${enc(req.topic)}`, { config })).config
  }

  async describePartitions(req: { topic: string }): Promise<PartitionState[]> {
    return (await this.json<{ partitions: PartitionState[] }>('GET', `/v1/topics/${enc(req.topic)}`)).partitions
  }

  /**
   * One binary POST per partition (its batches concatenated, in order). A request that failed
   * (no answer, a cut-short answer, a timeout) leaves the batches' fate unknown: each is reported
   * with that retriable error, never as stored.
   */
  async produce(req: ProduceRequest): Promise<ProduceResult[]> {
    const results: ProduceResult[] = new Array(req.entries.length)
    await Promise.all(groupEntriesByPartition(req.entries).map(async (indexes) => {
      const { topic, partition } = req.entries[indexes[0]]
      const failAll = (code: ErrorCode, message: string, errorCode: number) => {
        for (const i of indexes) results[i] = { topic, partition, errorCode, error: { code, message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }
      }
      const bytes = concatBytes(indexes.map((i) => req.entries[i].batch))
      type Answer = { batches?: Array<{ baseOffset?: number; logAppendTime?: number; logStartOffset?: number; error?: { code: ErrorCode; message: string } }>; error?: { code: ErrorCode; message: string } }
      const txn = typeof req.transactionalId === 'string' ? `&transactionalId=${enc(req.transactionalId)}` : ''
      const path = `/v1/topics/${enc(topic)}/partitions/${partition}/records?acks=${req.acks}${txn}`
      let answer: Answer
      try {
        answer = await this.request('POST', path, { bytes }, (response) => readJson<Answer>(response, `POST ${path}`))
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        const perBatch = (error as EdgelogError & { body?: Answer }).body?.batches
        if (!Array.isArray(perBatch)) return failAll(error.code, error.message, error.errorCode)
        answer = { batches: perBatch }
      }
      indexes.forEach((i, k) => {
        const b = Array.isArray(answer?.batches) ? answer.batches[k] : undefined
        if (!b || b.error || typeof b.baseOffset !== 'number') {
          // An answer without this batch's outcome: it may or may not be stored.
          const e = b?.error
            ? errorFromJSON(b.error)
            : new EdgelogError('NETWORK_EXCEPTION', `POST ${path}: the answer does not say what became of batch ${k}; it may have been stored`)
          results[i] = { topic, partition, errorCode: e.errorCode, error: { code: e.code, message: e.message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }
        } else {
          // Older Workers did not send the last two: -1, Kafka's "unknown".
          results[i] = { topic, partition, errorCode: 0, baseOffset: b.baseOffset, logAppendTime: b.logAppendTime ?? -1, logStartOffset: b.logStartOffset ?? -1 }
        }
      })
    }))
    return results
  }

  /** A long poll: the request may take `maxWaitMs` on top of `requestTimeout`; `signal` cancels it. */
  async fetch(req: FetchRequest, options?: { signal?: AbortSignal }): Promise<FetchResult> {
    const q = new URLSearchParams({ offset: String(req.offset), maxBytes: String(req.maxBytes) })
    const waitMs = req.maxWaitMs ? Math.min(Math.max(0, req.maxWaitMs), MAX_FETCH_WAIT_MS) : 0
    if (waitMs > 0) q.set('maxWaitMs', String(waitMs))
    if (req.minBytes) q.set('minBytes', String(req.minBytes))
    if (req.isolationLevel === 1) q.set('isolation', 'read_committed')
    // KIP-392: the consumer's client.rack; a replicated topic's in-sync follower in that region may answer.
    if (req.rackId) q.set('rackId', req.rackId)
    const path = `/v1/topics/${enc(req.topic)}/partitions/${req.partition}/records?${q}`
    return this.request('GET', path, { accept: RECORD_BATCH_TYPE, waitMs, signal: options?.signal }, async (response) => {
      const bytes = new Uint8Array(await response.arrayBuffer())
      let batches: Uint8Array[]
      try {
        batches = splitBatches(bytes)
      } catch (error) {
        throw new EdgelogError('NETWORK_EXCEPTION', `GET ${path}: the answer's record batches are cut short (${messageOf(error)})`, { cause: error, retriable: true })
      }
      const count = response.headers.get('edgelog-batch-count')
      if (count !== null && Number(count) !== batches.length) {
        throw new EdgelogError('NETWORK_EXCEPTION', `GET ${path}: the answer holds ${batches.length} record batches of the ${count} sent`, { retriable: true })
      }
      return {
        topic: req.topic,
        partition: req.partition,
        highWatermark: Number(response.headers.get('edgelog-high-watermark') ?? -1),
        topicId: response.headers.get('edgelog-topic-id') ?? undefined,
        logStartOffset: Number(response.headers.get('edgelog-log-start-offset') ?? -1),
        batches,
        ...(req.isolationLevel === 1 ? committedOf(response.headers, Number(response.headers.get('edgelog-high-watermark') ?? -1)) : {}),
      }
    })
  }

  async listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec; isolationLevel?: 0 | 1 }): Promise<ListOffsetsResult[]> {
    const at = typeof req.spec === 'object' ? String(req.spec.timestamp) : req.spec
    const q = new URLSearchParams({ at })
    if (req.isolationLevel === 1) q.set('isolation', 'read_committed')
    if (req.partitions) q.set('partitions', req.partitions.join(','))
    const { offsets } = await this.json<{ offsets: Array<{ partition: number; offset: number; timestamp: number }> }>('GET', `/v1/topics/${enc(req.topic)}/offsets?${q}`)
    return offsets.map((o) => ({ topic: req.topic, ...o }))
  }

  /** Kafka's DeleteRecords (POST /v1/topics/:topic/delete-records, per-partition errors inline). */
  async deleteRecords(req: { topic: string; partitions: Array<{ partition: number; offset: number }> }): Promise<DeleteRecordsResult[]> {
    const { partitions } = await this.json<{ partitions: Array<{ partition: number; lowWatermark: number; error?: { code: ErrorCode; message: string } }> }>(
      'POST', `/v1/topics/${enc(req.topic)}/delete-records?errors=inline`, { partitions: req.partitions },
    )
    return partitions.map((p) => ({
      topic: req.topic, partition: p.partition, lowWatermark: p.lowWatermark,
      errorCode: p.error ? (ERROR_CODES[p.error.code]?.errorCode ?? -1) : 0, ...(p.error ? { error: p.error } : {}),
    }))
  }

  /** Kafka's ElectLeaders, PREFERRED (POST /v1/elect-leaders, per-partition errors inline). */
  async electLeaders(req: { partitions: Array<{ topic: string; partition: number }> }): Promise<PartitionResult[]> {
    const { partitions } = await this.json<{ partitions: PartitionAnswer[] }>('POST', '/v1/elect-leaders?errors=inline', { electionType: 'PREFERRED', partitions: req.partitions })
    return partitions.map(partitionResult)
  }

  /** Kafka's AlterPartitionReassignments (POST /v1/partition-reassignments, per-partition errors inline). */
  async alterPartitionReassignments(req: { topics: Array<{ topic: string; partitionAssignment: Array<{ partition: number; replicas: number[] | null }> }> }): Promise<PartitionResult[]> {
    const { partitions } = await this.json<{ partitions: PartitionAnswer[] }>('POST', '/v1/partition-reassignments?errors=inline', { topics: req.topics })
    return partitions.map(partitionResult)
  }

  async listPartitionReassignments(req: { topics?: TopicPartitions[] } = {}): Promise<PartitionReassignment[]> {
    const names = req.topics ? req.topics.map((t) => t.topic) : [undefined]
    const found: PartitionReassignment[] = []
    for (const name of names) {
      const { topics } = await this.json<{ topics: Array<{ topic: string; partitions: Array<Omit<PartitionReassignment, 'topic'>> }> }>(
        'GET', `/v1/partition-reassignments${name === undefined ? '' : `?topic=${enc(name)}`}`,
      )
      const wanted = req.topics?.find((t) => t.topic === name)?.partitions
      for (const t of topics) for (const p of t.partitions) if (!wanted || wanted.includes(p.partition)) found.push({ topic: t.topic, ...p })
    }
    return found
  }

  async initProducerId(req: InitProducerIdRequest = {}): Promise<InitProducerIdResult> {
    if (typeof req?.transactionalId !== 'string') return this.json('POST', '/v1/producers', {})
    const { transactionalId, ...body } = req
    return this.json('POST', `/v1/transactions/${enc(transactionalId)}/producer`, body)
  }

  // Transactions (KIP-98): worker/http/transactions.ts.
  async addPartitionsToTxn(req: TxnProducer & { topics: TopicPartitions[] }): Promise<void> {
    await this.json('POST', `/v1/transactions/${enc(req.transactionalId)}/partitions`, { producerId: req.producerId, producerEpoch: req.producerEpoch, topics: req.topics })
  }

  async addOffsetsToTxn(req: TxnProducer & { groupId: string }): Promise<void> {
    await this.json('POST', `/v1/transactions/${enc(req.transactionalId)}/groups`, { producerId: req.producerId, producerEpoch: req.producerEpoch, groupId: req.groupId })
  }

  async txnOffsetCommit(req: TxnProducer & { groupId: string; offsets: OffsetCommit[] }): Promise<void> {
    await this.json('POST', `/v1/transactions/${enc(req.transactionalId)}/offsets`, { producerId: req.producerId, producerEpoch: req.producerEpoch, groupId: req.groupId, offsets: req.offsets })
  }

  async endTxn(req: TxnProducer & { committed: boolean }): Promise<void> {
    await this.json('POST', `/v1/transactions/${enc(req.transactionalId)}/end`, { producerId: req.producerId, producerEpoch: req.producerEpoch, committed: req.committed })
  }

  async runMaintenance(req: { topic?: string } = {}): Promise<void> {
    await this.json('POST', req.topic === undefined ? '/v1/maintenance' : `/v1/topics/${enc(req.topic)}/maintenance`)
  }

  async groupHeartbeat(req: GroupHeartbeatRequest): Promise<GroupHeartbeatResponse> {
    return this.json('POST', `/v1/groups/${enc(req.groupId)}/heartbeat`, req)
  }

  async commitOffsets(req: { groupId: string; memberId?: string; memberEpoch?: number; offsets: OffsetCommit[] }): Promise<void> {
    await this.json('POST', `/v1/groups/${enc(req.groupId)}/offsets`, { memberId: req.memberId, memberEpoch: req.memberEpoch, offsets: req.offsets })
  }

  async fetchOffsets(req: { groupId: string; topics?: string[]; requireStable?: boolean }): Promise<CommittedOffset[]> {
    const params = new URLSearchParams()
    if (req.topics) params.set('topics', req.topics.join(','))
    if (req.requireStable) params.set('requireStable', 'true')
    const q = params.size > 0 ? `?${params}` : ''
    return (await this.json<{ offsets: CommittedOffset[] }>('GET', `/v1/groups/${enc(req.groupId)}/offsets${q}`)).offsets
  }

  async describeGroups(req: { groupIds: string[] }): Promise<GroupDescription[]> {
    return Promise.all(req.groupIds.map(async (groupId) => {
      try {
        const { offsets: _offsets, lag: _lag, ...description } = await this.json<GroupDescription & { offsets: unknown; lag: unknown }>('GET', `/v1/groups/${enc(groupId)}`)
        return description
      } catch (error) {
        if (!isEdgelogError(error, 'GROUP_ID_NOT_FOUND')) throw error
        return { groupId, state: 'Dead', protocolType: 'consumer' as const, protocol: '', groupEpoch: 0, members: [] }
      }
    }))
  }

  async listGroups() {
    return (await this.json<{ groups: Array<{ groupId: string; protocolType: string; state: string }> }>('GET', '/v1/groups')).groups
  }

  async deleteGroups(req: { groupIds: string[] }) {
    const out: Array<{ groupId: string; errorCode: number; error?: { code: ErrorCode; message: string } }> = []
    for (const groupId of req.groupIds) {
      try {
        await this.json('DELETE', `/v1/groups/${enc(groupId)}`)
        out.push({ groupId, errorCode: 0 })
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        out.push({ groupId, errorCode: error.errorCode, error: { code: error.code, message: error.message } })
      }
    }
    return out
  }

  async groupLag(req: { groupId: string }): Promise<GroupOffsetsWithLag[]> {
    try {
      return (await this.json<{ offsets: GroupOffsetsWithLag[] }>('GET', `/v1/groups/${enc(req.groupId)}`)).offsets
    } catch (error) {
      if (isEdgelogError(error, 'GROUP_ID_NOT_FOUND')) return []
      throw error
    }
  }

  /** Aborts requests in flight (parked fetches included). */
  /**
   * The replica topics of this deployment, as a follower writes them (MirrorMaker's target;
   * the Worker's /v1/replicas routes, admin on the topic).
   */
  get replicas(): ReplicaTarget {
    return {
      ensureTopic: (leader, source) => this.json<{ partitions: number }>('PUT', `/v1/replicas/${enc(leader.name)}`, {
        topicId: leader.topicId, partitions: leader.partitions, config: leader.config, source,
      }),
      append: (req) => {
        const q = new URLSearchParams({ topicId: req.topicId, logStartOffset: String(Math.max(0, req.logStartOffset)), highWatermark: String(Math.max(0, req.highWatermark)) })
        const path = `/v1/replicas/${enc(req.topic)}/partitions/${req.partition}/records?${q}`
        return this.request('POST', path, { bytes: concatBytes(req.batches) }, (response) => readJson<{ highWatermark: number; appended: number }>(response, `POST ${path}`))
      },
      reset: async (req) => {
        await this.json('POST', `/v1/replicas/${enc(req.topic)}/partitions/${req.partition}/reset`, {
          topicId: req.topicId, logStartOffset: req.logStartOffset, highWatermark: req.highWatermark,
        })
      },
      status: async (topic) => (await this.json<{ partitions: ReplicaPartitionStatus[] }>('GET', `/v1/replicas/${enc(topic)}`)).partitions,
    }
  }

  async close(): Promise<void> {
    this.closed = true
    for (const abort of this.inFlight) abort.abort()
    this.inFlight.clear()
  }
}

/** The KafkaJS-shaped client over the HTTP API. */
export function connect(options: ConnectOptions): EdgelogClient {
  const broker = new HttpBroker(options)
  return createClient(broker, { clientId: options.clientId, preferredBatchBytes: options.preferredBatchBytes ?? 512 * 1024 })
}

/**
 * The error a non-2xx answer stands for: the server's own (`{ error: { code, message } }`), or,
 * without one, what its status says (a 5xx from a proxy or a restarting server is retriable).
 */
async function errorOf(response: Response, what: string): Promise<EdgelogError> {
  let body: { error?: { code?: string; message?: string } } | undefined
  try {
    body = JSON.parse(await response.text())
  } catch {
    body = undefined // unreadable, cut short or not JSON: the status decides
  }
  if (typeof body?.error?.code === 'string') {
    const error = errorFromJSON(body.error)
    ;(error as EdgelogError & { body?: unknown }).body = body
    fromServer.add(error)
    return error
  }
  const status = response.status
  const message = `${what}: HTTP ${status} ${response.statusText}`.trim()
  const error = status === 401 ? new EdgelogError('UNAUTHENTICATED', message)
    : status === 413 ? new EdgelogError('MESSAGE_TOO_LARGE', message)
    : status === 408 || status === 504 ? new EdgelogError('REQUEST_TIMED_OUT', message)
    : status === 429 || status >= 500 ? new EdgelogError('NETWORK_EXCEPTION', message, { retriable: true })
    : new EdgelogError('UNKNOWN_SERVER_ERROR', message)
  fromServer.add(error)
  return error
}

/** A 2xx answer's JSON body; one that does not parse was cut short (or is not ours): retriable. */
async function readJson<T>(response: Response, what: string): Promise<T> {
  const text = await response.text()
  try {
    return JSON.parse(text) as T
  } catch (error) {
    throw new EdgelogError('NETWORK_EXCEPTION', `${what}: the answer is not complete JSON (${text.length} characters; cut short?)`, { cause: error, retriable: true })
  }
}

function closedError(cause?: unknown): EdgelogError {
  return new EdgelogError('CLOSED', 'The connection is closed', cause === undefined ? undefined : { cause })
}

/** The caller gave up on the request (its signal): its reason when that is ours, else NETWORK_EXCEPTION, not retried. */
function abortedError(what: string, signal: AbortSignal): EdgelogError {
  if (isEdgelogError(signal.reason)) return signal.reason
  return new EdgelogError('NETWORK_EXCEPTION', `${what} was aborted`, { cause: signal.reason, retriable: false })
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  // undici reports the socket's error as the cause ("fetch failed" / "terminated": other side closed, ECONNREFUSED, …)
  const cause = (error as { cause?: unknown }).cause
  return cause instanceof Error && cause.message && cause.message !== error.message ? `${error.message} (${cause.message})` : error.message
}

export { EdgelogError } from '../../core/errors.ts'

/**
 * A read_committed answer's last stable offset and aborted transactions (worker/http/app.ts
 * headers). A server that sends neither has no transactions (an older Worker, a test server):
 * nothing there can be aborted, and the end is the high watermark.
 */
function committedOf(headers: Headers, highWatermark: number): { lastStableOffset: number; abortedTransactions: Array<{ producerId: number; firstOffset: number }> } {
  const raw = headers.get('edgelog-last-stable-offset')
  if (raw === null) return { lastStableOffset: highWatermark, abortedTransactions: [] }
  let aborted: unknown
  try {
    aborted = JSON.parse(headers.get('edgelog-aborted-transactions') ?? '')
  } catch {
    aborted = undefined
  }
  // Without them a reader could hand out aborted records: refuse the answer rather than guess.
  if (!Number.isSafeInteger(Number(raw)) || !Array.isArray(aborted)) {
    throw new EdgelogError('NETWORK_EXCEPTION', 'A read_committed answer with an unreadable last stable offset or aborted transactions', { retriable: true })
  }
  return { lastStableOffset: Number(raw), abortedTransactions: aborted as Array<{ producerId: number; firstOffset: number }> }
}

type PartitionAnswer = { topic: string; partition: number; error?: { code: ErrorCode; message: string } }

function partitionResult(p: PartitionAnswer): PartitionResult {
  return { topic: p.topic, partition: p.partition, errorCode: p.error ? (ERROR_CODES[p.error.code]?.errorCode ?? -1) : 0, ...(p.error ? { error: p.error } : {}) }
}
