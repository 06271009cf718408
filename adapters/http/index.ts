/**
 * `edgelog/http`: the remote client. `connect({ url, token })` returns the same KafkaJS-shaped
 * client as `openLog` and `openBrowserLog`, over the Worker's v1 HTTP API: producers send
 * binary Kafka record batches, consumers fetch binary batches with long polls, groups run
 * over the KIP-848 heartbeat route. Server errors become EdgelogError with the same `code`.
 * Web-standard `fetch` only: it runs in browsers, Node 18+, Deno, Bun and Workers.
 */
import { createClient, type EdgelogClient } from '../../core/client/client.ts'
import { EdgelogError, errorFromJSON, isEdgelogError, type ErrorCode } from '../../core/errors.ts'
import type { TopicConfig } from '../../core/config.ts'
import type {
  Broker, ClusterInfo, CommittedOffset, FetchRequest, FetchResult, GroupDescription, GroupHeartbeatRequest,
  GroupHeartbeatResponse, GroupOffsetsWithLag, InitProducerIdResult, ListOffsetsResult, OffsetCommit, OffsetSpec,
  PartitionState, ProduceRequest, ProduceResult, TopicMetadata, TopicSpec,
} from '../../core/broker.ts'
import { concatBytes } from '../../core/codec/bytes.ts'
import { splitBatches } from '../../core/codec/record-batch.ts'
import { groupEntriesByPartition } from '../../core/log/produce-groups.ts'

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch'

export interface HttpBrokerOptions {
  /** The Worker's origin, e.g. http://127.0.0.1:8787 (the API lives under /v1). */
  url: string
  /** A bearer token of the deployment's EDGELOG_TOKENS. */
  token?: string
  /** Another fetch (tests: the Worker's `SELF.fetch`; or one that adds headers). */
  fetch?: (input: Request) => Promise<Response>
}

export interface ConnectOptions extends HttpBrokerOptions {
  clientId?: string
  /** Producers split sends at this many bytes per batch (default 512 KiB, under the 1 MiB max.message.bytes). */
  preferredBatchBytes?: number
}

const enc = encodeURIComponent

export class HttpBroker implements Broker {
  private readonly base: string
  private readonly doFetch: (input: Request) => Promise<Response>
  private readonly inFlight = new Set<AbortController>()
  private closed = false

  constructor(private readonly options: HttpBrokerOptions) {
    this.base = options.url.replace(/\/+$/, '')
    this.doFetch = options.fetch ?? ((request) => fetch(request))
  }

  /** One request: JSON in and out, or bytes; a non-2xx answer throws its EdgelogError. */
  private async request(method: string, path: string, init: { json?: unknown; bytes?: Uint8Array; accept?: string } = {}): Promise<Response> {
    if (this.closed) throw new EdgelogError('CLOSED', 'The connection is closed')
    const headers: Record<string, string> = { accept: init.accept ?? 'application/json' }
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`
    let body: BodyInit | undefined
    if (init.bytes) {
      headers['content-type'] = RECORD_BATCH_TYPE
      body = init.bytes as Uint8Array<ArrayBuffer>
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(init.json)
    }
    const abort = new AbortController()
    this.inFlight.add(abort)
    let response: Response
    try {
      response = await this.doFetch(new Request(`${this.base}${path}`, { method, headers, body, signal: abort.signal }))
    } catch (error) {
      if (this.closed) throw new EdgelogError('CLOSED', 'The connection is closed')
      throw new EdgelogError('NETWORK_EXCEPTION', `${method} ${path} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error, retriable: true })
    } finally {
      this.inFlight.delete(abort)
    }
    if (!response.ok) throw await errorOf(response)
    return response
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.request(method, path, { json: body })
    return (await response.json()) as T
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

  /** One binary POST per partition (its batches concatenated, in order). */
  async produce(req: ProduceRequest): Promise<ProduceResult[]> {
    const results: ProduceResult[] = new Array(req.entries.length)
    await Promise.all(groupEntriesByPartition(req.entries).map(async (indexes) => {
      const { topic, partition } = req.entries[indexes[0]]
      const failAll = (code: ErrorCode, message: string, errorCode: number) => {
        for (const i of indexes) results[i] = { topic, partition, errorCode, error: { code, message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }
      }
      const bytes = concatBytes(indexes.map((i) => req.entries[i].batch))
      let answer: { batches?: Array<{ baseOffset?: number; error?: { code: ErrorCode; message: string } }>; error?: { code: ErrorCode; message: string } }
      try {
        const response = await this.request('POST', `/v1/topics/${enc(topic)}/partitions/${partition}/records?acks=${req.acks}`, { bytes })
        answer = await response.json()
      } catch (error) {
        if (!isEdgelogError(error)) throw error
        const perBatch = (error as EdgelogError & { body?: typeof answer }).body?.batches
        if (!perBatch) return failAll(error.code, error.message, error.errorCode)
        answer = { batches: perBatch }
      }
      indexes.forEach((i, k) => {
        const b = answer.batches?.[k]
        if (!b || b.error || b.baseOffset === undefined) {
          const e = errorFromJSON(b?.error ?? { code: 'UNKNOWN_SERVER_ERROR', message: 'No answer for this batch' })
          results[i] = { topic, partition, errorCode: e.errorCode, error: { code: e.code, message: e.message }, baseOffset: -1, logAppendTime: -1, logStartOffset: -1 }
        } else {
          results[i] = { topic, partition, errorCode: 0, baseOffset: b.baseOffset, logAppendTime: -1, logStartOffset: -1 }
        }
      })
    }))
    return results
  }

  async fetch(req: FetchRequest): Promise<FetchResult> {
    const q = new URLSearchParams({ offset: String(req.offset), maxBytes: String(req.maxBytes) })
    if (req.maxWaitMs) q.set('maxWaitMs', String(Math.min(req.maxWaitMs, 60_000)))
    if (req.minBytes) q.set('minBytes', String(req.minBytes))
    const response = await this.request('GET', `/v1/topics/${enc(req.topic)}/partitions/${req.partition}/records?${q}`, { accept: RECORD_BATCH_TYPE })
    const bytes = new Uint8Array(await response.arrayBuffer())
    return {
      topic: req.topic,
      partition: req.partition,
      highWatermark: Number(response.headers.get('edgelog-high-watermark') ?? -1),
      logStartOffset: Number(response.headers.get('edgelog-log-start-offset') ?? -1),
      batches: splitBatches(bytes),
    }
  }

  async listOffsets(req: { topic: string; partitions: number[]; spec: OffsetSpec }): Promise<ListOffsetsResult[]> {
    const at = typeof req.spec === 'object' ? String(req.spec.timestamp) : req.spec
    const q = new URLSearchParams({ at })
    if (req.partitions) q.set('partitions', req.partitions.join(','))
    const { offsets } = await this.json<{ offsets: Array<{ partition: number; offset: number; timestamp: number }> }>('GET', `/v1/topics/${enc(req.topic)}/offsets?${q}`)
    return offsets.map((o) => ({ topic: req.topic, ...o }))
  }

  async initProducerId(): Promise<InitProducerIdResult> {
    return this.json('POST', '/v1/producers', {})
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

  async fetchOffsets(req: { groupId: string; topics?: string[] }): Promise<CommittedOffset[]> {
    const q = req.topics ? `?topics=${enc(req.topics.join(','))}` : ''
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

async function errorOf(response: Response): Promise<EdgelogError> {
  let body: { error?: { code?: string; message?: string } } | undefined
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  if (body?.error?.code) {
    const error = errorFromJSON(body.error)
    ;(error as EdgelogError & { body?: unknown }).body = body
    return error
  }
  const code: ErrorCode = response.status === 401 ? 'UNAUTHENTICATED' : response.status === 413 ? 'MESSAGE_TOO_LARGE' : response.status >= 500 ? 'NETWORK_EXCEPTION' : 'UNKNOWN_SERVER_ERROR'
  return new EdgelogError(code, `HTTP ${response.status} ${response.statusText}`)
}

export { EdgelogError } from '../../core/errors.ts'
