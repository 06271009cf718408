/**
 * The v1 HTTP API (CONTRACTS.md §5) as a Hono app. Every route speaks the Broker protocol
 * (EdgeBroker) and nothing else; errors are `{ "error": { "code", "message" } }` with the
 * status of ERROR_CODES. See docs/http-api.md and /v1/openapi.json.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { cors } from 'hono/cors'
import { DO_MAX_VALUE_BYTES } from '../../adapters/durable-object/index.ts'
import { EdgelogError, isEdgelogError } from '../../core/errors.ts'
import type { TopicSpec } from '../../core/broker.ts'
import { TOPIC_CONFIG_DEFAULTS } from '../../core/config.ts'
import { lastOffsetOf, readBatchHeader, splitBatches } from '../../core/codec/record-batch.ts'
import { validateTopicName } from '../../core/log/topic-registry.ts'
import { EdgeBroker } from '../edge-broker.ts'
import { clientRackOf } from '../replication/rack.ts'
import { mountReplicaFaultRoute } from '../replication/test-route.ts'
import { mountReplicaRoutes } from './replicas.ts'
import { SCHEMAS_TOPIC } from '../../core/schemas/store.ts'
import { mountDeleteRecords } from './delete-records.ts'
import { mountReassignmentRoutes } from './reassignments.ts'
import { mountTransactions } from './transactions.ts'
import { mountSchemaRegistry, SCHEMA_REGISTRY_PREFIXES } from './schema-registry.ts'
import { mountDurableStreams } from './durable-streams.ts'
import type { EdgelogEnv } from '../env.ts'
import type { TopicView } from '../objects/controller.ts'
import { MAX_FETCH_WAIT_MS } from '../objects/partition.ts'
import { settingsOf } from '../rpc.ts'
import { authenticate, requireCluster, requireGroup, requireTopic, type Principal } from './auth.ts'
import { DEFAULT_MAX_REQUEST_BYTES, errorResponse, fail, intParam, readBody, readJson, statusOf } from './errors.ts'
import { openapi } from './openapi.ts'
import { BATCH_TARGET_BYTES, encodingOf, toJsonRecords, toPartitionBatches } from './records.ts'
import { tail } from './sse.ts'
import { DEFAULT_TAIL_CREDIT, MAX_TAIL_CREDIT, webSocketTail } from './ws-tail.ts'
import { fetchThroughCache } from '../cache.ts'
import { fetchCommittedWaiting } from '../wait/committed.ts'
import { mountActivityRoute } from '../wait/routes.ts'
import { mountTiersRoute } from './tiers.ts'

export type AppEnv = { Bindings: EdgelogEnv; Variables: { broker: EdgeBroker; principal: Principal } }

export const RECORD_BATCH_TYPE = 'application/vnd.kafka.record-batch'
/** Largest JSON produce request, in records. */
export const MAX_RECORDS_PER_REQUEST = 100_000
const INT32_MAX = 0x7fffffff
const DEFAULT_FETCH_BYTES = 1024 * 1024
const MAX_FETCH_BYTES = 64 * 1024 * 1024
const EXPOSED = ['Edgelog-High-Watermark', 'Edgelog-Log-Start-Offset', 'Edgelog-Next-Offset', 'Edgelog-Batch-Count', 'Edgelog-Topic-Id']

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.onError((error) => errorResponse(error))
  app.notFound((c) => c.json({ error: { code: 'INVALID_REQUEST', message: `No route ${c.req.method} ${new URL(c.req.url).pathname}` } }, 404))

  // One CORS middleware per EDGELOG_CORS_ORIGINS value, built once, not per request.
  let corsFor: { origins: string; handler: ReturnType<typeof cors> } | undefined
  const corsMiddleware: MiddlewareHandler<AppEnv> = async (c, next) => {
    const origins = c.env.EDGELOG_CORS_ORIGINS?.trim()
    if (!origins) return next()
    if (corsFor?.origins !== origins) {
      const list = origins.split(',').map((s) => s.trim()).filter(Boolean)
      corsFor = {
        origins,
        handler: cors({
          origin: list.includes('*') ? '*' : (origin) => (list.includes(origin) ? origin : null),
          allowMethods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
          allowHeaders: ['Authorization', 'Content-Type', 'Accept', 'Last-Event-ID'],
          exposeHeaders: EXPOSED,
          maxAge: 600,
        }),
      }
    }
    return corsFor.handler(c, next)
  }
  app.use('/v1/*', corsMiddleware)
  // The schema registry's root paths too: a page on another origin calls /subjects as it calls /v1.
  for (const prefix of SCHEMA_REGISTRY_PREFIXES) app.use(prefix, corsMiddleware).use(`${prefix}/*`, corsMiddleware)

  mountDurableStreams(app)
  mountSchemaRegistry(app)
  app.get('/v1/health', (c) => c.json({ ok: true }))
  app.get('/v1/openapi.json', (c) => c.json(openapi))

  app.use('/v1/*', async (c, next) => {
    const principal = await authenticate(c.env, c.req.raw, c.req.query('access_token'))
    c.set('principal', principal)
    c.set('broker', new EdgeBroker(c.env, { clientHost: c.req.header('cf-connecting-ip') ?? '', clientRack: clientRackOf(c.req.query('rackId'), c.req.raw) }))
    await next()
  })

  mountReplicaRoutes(app)
  mountDeleteRecords(app)
  mountReassignmentRoutes(app)
  mountReplicaFaultRoute(app)
  mountTransactions(app)
  mountActivityRoute(app)
  mountTiersRoute(app)

  // ------------------------------------------------------------------ cluster

  app.get('/v1/cluster', async (c) => c.json(await c.var.broker.describeCluster()))

  app.post('/v1/producers', async (c) => {
    if (!c.var.principal.writesAnyTopic()) fail('CLUSTER_AUTHORIZATION_FAILED', 'Producer ids are for tokens that may write to some topic')
    await readJson(c).catch(() => ({}))
    return c.json(await c.var.broker.initProducerId())
  })

  app.post('/v1/maintenance', async (c) => {
    requireCluster(c.var.principal, 'admin')
    await c.var.broker.runMaintenance({})
    return c.json({ ok: true })
  })

  app.post('/v1/metadata', async (c) => {
    const body = await readJson(c)
    const topics = body.topics
    if (topics !== undefined && (!Array.isArray(topics) || topics.some((t) => typeof t !== 'string'))) fail('INVALID_REQUEST', 'topics must be an array of names')
    const autoCreate = body.allowAutoTopicCreation === true
    for (const t of (topics ?? []) as string[]) {
      validateTopicName(t)
      requireTopic(c.var.principal, t, autoCreate ? 'write' : 'describe')
    }
    let result = await c.var.broker.metadata({ topics: topics as string[] | undefined, allowAutoTopicCreation: autoCreate })
    if (topics === undefined) result = result.filter((t) => c.var.principal.topic(t.name, 'describe'))
    return c.json({ topics: result })
  })

  // ------------------------------------------------------------------ topics

  app.get('/v1/topics', async (c) => {
    const views = await c.var.broker.topicViews()
    return c.json({
      topics: views.filter((v) => c.var.principal.topic(v.name, 'describe'))
        .map((v) => ({ name: v.name, topicId: v.topicId, partitions: v.partitions, config: v.config })),
    })
  })

  app.post('/v1/topics', async (c) => {
    const body = await readJson(c)
    if (Array.isArray(body.topics)) {
      // The Kafka-shaped batch form: { topics: [TopicSpec], validateOnly }
      const specs = (body.topics as unknown[]).map((s): TopicSpec => {
        validateTopicName((s as { topic?: unknown })?.topic)
        const spec = s as TopicSpec
        requireTopic(c.var.principal, spec.topic, 'admin')
        // Checked here, whole, before the controller sees it: `configEntries: {}` or `[null]` were a 500.
        return spec.configEntries === undefined ? spec : { ...spec, configEntries: configEntryList(spec.configEntries) as TopicSpec['configEntries'] }
      })
      return c.json({ results: await c.var.broker.createTopics({ topics: specs, validateOnly: body.validateOnly === true }) })
    }
    const name = body.name
    validateTopicName(name)
    requireTopic(c.var.principal, name, 'admin')
    if (body.partitions !== undefined && typeof body.partitions !== 'number') fail('INVALID_PARTITIONS', 'partitions must be an integer')
    const spec: TopicSpec = {
      topic: name, numPartitions: body.partitions as number | undefined, configEntries: configEntries(body.config, false) as TopicSpec['configEntries'],
      ...(body.replicationFactor !== undefined ? { replicationFactor: body.replicationFactor as number } : {}),
    }
    const [result] = await c.var.broker.createTopics({ topics: [spec] })
    if (!result.created) fail('TOPIC_ALREADY_EXISTS', `Topic '${name}' already exists`)
    const [meta] = await c.var.broker.metadata({ topics: [name] })
    return c.json({ name, topicId: meta.topicId, partitions: meta.partitions.length, config: meta.config }, 201)
  })

  app.get('/v1/topics/:topic', async (c) => {
    const topic = topicParam(c, 'describe')
    return c.json(await describeTopic(c.var.broker, topic))
  })

  app.patch('/v1/topics/:topic', async (c) => {
    const topic = topicParam(c, 'admin')
    const body = await readJson(c)
    if (body.partitions === undefined && body.config === undefined) fail('INVALID_REQUEST', 'Nothing to change: give partitions and/or config')
    // The controller checks the config and the count against the topic before applying either.
    await c.var.broker.alterTopic({ topic, partitions: body.partitions as number | undefined, configEntries: configEntries(body.config, true) })
    return c.json(await describeTopic(c.var.broker, topic))
  })

  app.delete('/v1/topics/:topic', async (c) => {
    const topic = topicParam(c, 'admin')
    await c.var.broker.deleteTopics({ topics: [topic] })
    return c.json({ deleted: topic })
  })

  app.post('/v1/topics/:topic/maintenance', async (c) => {
    const topic = topicParam(c, 'admin')
    await c.var.broker.runMaintenance({ topic })
    return c.json({ ok: true })
  })

  app.get('/v1/topics/:topic/offsets', async (c) => {
    const topic = topicParam(c, 'read')
    const spec = specParam(c.req.query('at'))
    const raw = c.req.query('partitions')
    const partitions = raw === undefined ? undefined : raw.split(',').map((p) => intParam(p, 'partitions')!)
    const offsets = await c.var.broker.listOffsets({ topic, partitions: partitions as number[], spec, isolationLevel: isolationParam(c.req.query('isolation')) })
    return c.json({ offsets: offsets.map(({ partition, offset, timestamp }) => ({ partition, offset, timestamp })) })
  })

  app.get('/v1/topics/:topic/partitions/:p/offsets', async (c) => {
    const topic = topicParam(c, 'read')
    const partition = partitionParam(c)
    const [r] = await c.var.broker.listOffsets({ topic, partitions: [partition], spec: specParam(c.req.query('at')), isolationLevel: isolationParam(c.req.query('isolation')) })
    return c.json({ partition, offset: r.offset, timestamp: r.timestamp })
  })

  // ------------------------------------------------------------------ records

  app.post('/v1/topics/:topic/records', (c) => produce(c, undefined))
  app.post('/v1/topics/:topic/partitions/:p/records', (c) => produce(c, partitionParam(c)))

  app.get('/v1/topics/:topic/partitions/:p/records', async (c) => {
    const topic = topicParam(c, 'read')
    const partition = partitionParam(c)
    const broker = c.var.broker
    const offset = await offsetParam(broker, topic, partition, c.req.query('offset'))
    const maxBytes = intParam(c.req.query('maxBytes'), 'maxBytes', { min: 1, max: MAX_FETCH_BYTES, code: 'INVALID_FETCH_SIZE' }) ?? DEFAULT_FETCH_BYTES
    const maxWaitMs = intParam(c.req.query('maxWaitMs'), 'maxWaitMs', { max: MAX_FETCH_WAIT_MS }) ?? 0
    const minBytes = intParam(c.req.query('minBytes'), 'minBytes', { min: 1 }) ?? 1
    const encoding = encodingOf(c.req.query('encoding'))
    const committed = isolationParam(c.req.query('isolation')) === 1
    // Sealed segments from the Workers Cache API (worker/cache.ts); a long poll waits here in the
    // Worker, not inside the partition object (worker/wait/). read_committed reads from the
    // object, which alone knows the last stable offset and the aborted transactions, and waits
    // in the Worker too (worker/wait/committed.ts).
    const raw = committed
      ? { ...await fetchCommittedWaiting(broker, { topic, partition, offset, maxBytes, maxWaitMs, minBytes }, c.req.raw.signal), maxAge: 0, cache: 'bypass' }
      : await fetchThroughCache(broker, { topic, partition, offset, maxBytes, maxWaitMs, minBytes }, {
        origin: new URL(c.req.url).origin, signal: c.req.raw.signal, waitUntil: (p) => { try { c.executionCtx.waitUntil(p) } catch { /* no execution context (app.request): the put goes on alone */ } },
      })
    const batches = raw.batchCount === 0 ? [] : splitBatches(raw.bytes)
    const nextOffset = batches.length === 0 ? offset : lastOffsetOf(batches[batches.length - 1]) + 1
    const headers: Record<string, string> = {
      'Edgelog-High-Watermark': String(raw.highWatermark),
      'Edgelog-Topic-Id': raw.topicId,
      'Edgelog-Log-Start-Offset': String(raw.logStartOffset),
      'Edgelog-Next-Offset': String(nextOffset),
      'Edgelog-Batch-Count': String(raw.batchCount),
      // A sealed segment's batches never change (a browser or CDN may keep them); anything else may.
      'Cache-Control': raw.maxAge ? `public, max-age=${raw.maxAge}, immutable` : 'no-store',
      'Edgelog-Cache': raw.cache,
    }
    if (committed) {
      headers['Edgelog-Last-Stable-Offset'] = String(raw.lastStableOffset ?? raw.highWatermark)
      headers['Edgelog-Aborted-Transactions'] = JSON.stringify(raw.abortedTransactions ?? [])
    }
    if (wantsBinary(c.req.header('accept'))) {
      return new Response(raw.bytes, { headers: { ...headers, 'Content-Type': RECORD_BATCH_TYPE } })
    }
    const records = await toJsonRecords(batches, offset, encoding, committed ? raw.abortedTransactions ?? [] : undefined)
    return c.json({ records, highWatermark: raw.highWatermark, logStartOffset: raw.logStartOffset, nextOffset }, 200, headers)
  })

  app.get('/v1/topics/:topic/partitions/:p/tail', async (c) => {
    const topic = topicParam(c, 'read')
    const partition = partitionParam(c)
    const lastEventId = c.req.header('last-event-id')
    const fromQuery = c.req.query('offset')
    const offset = lastEventId !== undefined && lastEventId !== ''
      ? intParam(lastEventId, 'Last-Event-ID')! + 1
      : await offsetParam(c.var.broker, topic, partition, fromQuery ?? 'latest')
    const limit = intParam(c.req.query('limit'), 'limit', { min: 1 })
    const maxWaitMs = intParam(c.req.query('maxWaitMs'), 'maxWaitMs', { min: 1, max: MAX_FETCH_WAIT_MS }) ?? 25_000
    const encoding = encodingOf(c.req.query('encoding'))
    // Fail fast (a JSON error, not a stream) when the topic or offset is wrong.
    await c.var.broker.fetchRaw({ topic, partition, offset, maxBytes: 1, maxWaitMs: 0 })
    if (c.req.header('upgrade')?.toLowerCase() === 'websocket') {
      const credit = intParam(c.req.query('credit'), 'credit', { min: 1, max: MAX_TAIL_CREDIT }) ?? DEFAULT_TAIL_CREDIT
      return webSocketTail(c.var.broker, { topic, partition, offset, credit, limit, maxWaitMs, encoding })
    }
    return tail(c.var.broker, { topic, partition, offset, limit, maxWaitMs, encoding, signal: c.req.raw.signal })
  })

  // ------------------------------------------------------------------ groups

  app.get('/v1/groups', async (c) => {
    const groups = await c.var.broker.listGroups()
    return c.json({ groups: groups.filter((g) => c.var.principal.group(g.groupId, 'describe')) })
  })

  app.get('/v1/groups/:group', async (c) => {
    const group = groupParam(c, 'describe')
    const [description] = await c.var.broker.describeGroups({ groupIds: [group] })
    const offsets = await c.var.broker.groupLag({ groupId: group })
    if (description.state === 'Dead' && offsets.length === 0) fail('GROUP_ID_NOT_FOUND', `Group '${group}' does not exist`)
    return c.json({ ...description, offsets, lag: offsets.reduce((n, o) => n + Math.max(0, o.lag), 0) })
  })

  app.delete('/v1/groups/:group', async (c) => {
    const group = groupParam(c, 'admin')
    const [result] = await c.var.broker.deleteGroups({ groupIds: [group] })
    if (result.error) fail(result.error.code, result.error.message)
    return c.json({ deleted: group })
  })

  app.post('/v1/groups/:group/heartbeat', async (c) => {
    const group = groupParam(c, 'read')
    const body = await readJson(c)
    if (body.groupId !== undefined && body.groupId !== group) fail('INVALID_REQUEST', 'groupId in the body differs from the path')
    const names = body.subscribedTopicNames
    if (names !== undefined && names !== null) {
      if (!Array.isArray(names) || names.some((n) => typeof n !== 'string')) fail('INVALID_REQUEST', 'subscribedTopicNames must be an array of names')
      for (const n of names as string[]) requireTopic(c.var.principal, n, 'read')
    }
    if (typeof body.memberEpoch !== 'number') fail('INVALID_REQUEST', 'memberEpoch must be a number (0 to join)')
    if (body.memberId !== undefined && typeof body.memberId !== 'string') fail('INVALID_REQUEST', 'memberId must be a string')
    // Kafka's timeouts are int32 milliseconds. The group object sets its alarm at the nearest
    // session or revocation deadline: 1e300 (an integer to Number.isInteger) made every later
    // request to the group, and GET /v1/groups, a 500.
    for (const field of ['sessionTimeoutMs', 'rebalanceTimeoutMs'] as const) {
      const value = body[field]
      if (value !== undefined && value !== null && value !== -1 && !(Number.isInteger(value) && (value as number) > 0 && (value as number) <= INT32_MAX)) {
        fail(field === 'sessionTimeoutMs' ? 'INVALID_SESSION_TIMEOUT' : 'INVALID_REQUEST', `${field} must be an integer from 1 to ${INT32_MAX} ms (or -1), got ${JSON.stringify(value)}`)
      }
    }
    // What the member owns: the coordinator iterates it, so `{}` or a number was a 500.
    const owned = body.topicPartitions
    if (owned !== undefined && owned !== null && (!Array.isArray(owned) || owned.some((tp) => typeof tp !== 'object' || tp === null || Array.isArray(tp)))) {
      fail('INVALID_REQUEST', 'topicPartitions must be an array of { topicId?, topic, partitions }')
    }
    const response = await c.var.broker.groupHeartbeat({ ...body, memberId: (body.memberId as string | undefined) ?? '', memberEpoch: body.memberEpoch as number, groupId: group })
    return c.json(response)
  })

  app.post('/v1/groups/:group/offsets', async (c) => {
    const group = groupParam(c, 'read')
    const body = await readJson(c)
    if (!Array.isArray(body.offsets)) fail('INVALID_REQUEST', 'offsets must be an array of { topic, partition, offset, metadata? }')
    for (const o of body.offsets as Array<{ topic?: unknown }>) {
      validateTopicName(o?.topic)
      requireTopic(c.var.principal, o.topic as string, 'read')
    }
    await c.var.broker.commitOffsets({
      groupId: group, memberId: body.memberId as string | undefined, memberEpoch: body.memberEpoch as number | undefined,
      offsets: body.offsets as never,
    })
    return c.json({ committed: (body.offsets as unknown[]).length })
  })

  app.get('/v1/groups/:group/offsets', async (c) => {
    const group = groupParam(c, 'describe')
    const raw = c.req.query('topics')
    const topics = raw === undefined ? undefined : raw.split(',').filter(Boolean)
    for (const t of topics ?? []) validateTopicName(t)
    const offsets = await c.var.broker.fetchOffsets({ groupId: group, topics, requireStable: c.req.query('requireStable') === 'true' })
    return c.json({ offsets: offsets.filter((o) => c.var.principal.topic(o.topic, 'describe')) })
  })

  return app
}

type C = Context<AppEnv>

function topicParam(c: C, access: 'read' | 'write' | 'admin' | 'describe'): string {
  const topic = c.req.param('topic') as string
  validateTopicName(topic)
  requireTopic(c.var.principal, topic, access)
  return topic
}

function groupParam(c: C, access: 'read' | 'admin' | 'describe'): string {
  const group = c.req.param('group') as string
  if (group.length === 0 || group.length > 255) fail('INVALID_GROUP_ID', 'Group ids are 1 to 255 characters')
  requireGroup(c.var.principal, group, access)
  return group
}

function partitionParam(c: C): number {
  return intParam(c.req.param('p'), 'partition')!
}

function specParam(raw: string | undefined): 'earliest' | 'latest' | { timestamp: number } {
  if (raw === undefined || raw === 'latest') return 'latest'
  if (raw === 'earliest') return 'earliest'
  const timestamp = intParam(raw, 'at (earliest, latest or a timestamp in ms)', { code: 'INVALID_TIMESTAMP' })!
  return { timestamp }
}

async function offsetParam(broker: EdgeBroker, topic: string, partition: number, raw: string | undefined): Promise<number> {
  if (raw === undefined || raw === 'earliest' || raw === 'latest') {
    const [r] = await broker.listOffsets({ topic, partitions: [partition], spec: raw === 'latest' ? 'latest' : 'earliest' })
    return r.offset
  }
  return intParam(raw, 'offset')!
}

function wantsBinary(accept: string | undefined): boolean {
  return accept !== undefined && (accept.includes(RECORD_BATCH_TYPE) || accept.includes('application/octet-stream'))
}

/** `{ "retention.ms": "1000", … }` as Kafka config entries (null resets, on alter only). */
function configEntries(config: unknown, allowNull: boolean): Array<{ name: string; value: string | null }> | undefined {
  if (config === undefined) return undefined
  if (typeof config !== 'object' || config === null || Array.isArray(config)) fail('INVALID_CONFIG', 'config must be an object of Kafka config names to values')
  return Object.entries(config as Record<string, unknown>).map(([name, value]) => configEntry(name, value, allowNull))
}

/** Kafka's `configEntries: [{ name, value }]` (the Kafka-shaped create; a null value is the default). */
function configEntryList(entries: unknown): Array<{ name: string; value: string | null }> {
  if (!Array.isArray(entries)) fail('INVALID_CONFIG', 'configEntries must be an array of { name, value }')
  return entries.map((e) => {
    if (typeof e !== 'object' || e === null) fail('INVALID_CONFIG', 'configEntries must be an array of { name, value }')
    return configEntry((e as { name?: unknown }).name, (e as { value?: unknown }).value ?? null, true)
  })
}

/**
 * One config entry: a known topic config name (an own name: `constructor` or `__proto__` are
 * not configs, though `in` finds them on every object) and a string or number value.
 */
function configEntry(name: unknown, value: unknown, allowNull: boolean): { name: string; value: string | null } {
  if (typeof name !== 'string' || !Object.hasOwn(TOPIC_CONFIG_DEFAULTS, name)) fail('INVALID_CONFIG', `Unknown topic config ${JSON.stringify(name)}`)
  if (value === null && allowNull) return { name, value: null }
  if (typeof value !== 'string' && typeof value !== 'number') fail('INVALID_CONFIG', `config '${name}' must be a string or a number`)
  return { name, value: String(value) }
}

async function describeTopic(broker: EdgeBroker, topic: string) {
  const [meta] = await broker.metadata({ topics: [topic] })
  const states = await broker.describePartitions({ topic })
  return {
    name: meta.name, topicId: meta.topicId, config: meta.config,
    partitions: states.map((s) => ({
      partition: s.partition, logStartOffset: s.logStartOffset, highWatermark: s.highWatermark, sizeBytes: s.sizeBytes, segments: s.segments,
      // A replicated topic (worker/replication/): Kafka's Leader, Replicas, Isr.
      ...(s.replicas ? { leader: s.leader, leaderEpoch: s.leaderEpoch, replicas: s.replicas, isr: s.isr, offlineReplicas: s.offlineReplicas } : {}),
    })),
  }
}

function acksParam(raw: string | undefined): -1 | 0 | 1 {
  if (raw === undefined || raw === '-1' || raw === 'all') return -1
  if (raw === '1') return 1
  if (raw === '0') return 0
  return fail('INVALID_REQUIRED_ACKS', `acks must be -1 (all), 1 or 0, got ${JSON.stringify(raw)}`)
}

/**
 * The JSON produce route's batch sizes for the topic: the hard limit of a stored batch (the
 * topic's max.message.bytes, and the Durable Object value limit), and the size it packs
 * records to (512 KiB, or the hard limit when smaller). A record over the packing size goes
 * alone in its batch.
 */
function batchLimitOf(view: TopicView): { maxBatchBytes: number; targetBatchBytes: number; limitName: string } {
  const maxMessage = view.config['max.message.bytes']
  const hard = maxMessage <= DO_MAX_VALUE_BYTES
    ? { maxBatchBytes: maxMessage, limitName: `the topic's max.message.bytes` }
    : { maxBatchBytes: DO_MAX_VALUE_BYTES, limitName: 'the Durable Object limit per stored batch' }
  return { ...hard, targetBatchBytes: Math.min(BATCH_TARGET_BYTES, hard.maxBatchBytes) }
}

function maxRequestBytes(env: EdgelogEnv): number {
  return intParam(env.EDGELOG_MAX_REQUEST_BYTES, 'EDGELOG_MAX_REQUEST_BYTES', { min: 1 }) ?? DEFAULT_MAX_REQUEST_BYTES
}

/** JSON records (any partition, or the path's) or binary record batches (the path's partition). */
async function produce(c: C, forcedPartition: number | undefined): Promise<Response> {
  const topic = topicParam(c, 'write')
  // The schema registry's own log: written through the registry's API, or by a cluster admin.
  if (topic === SCHEMAS_TOPIC) requireCluster(c.var.principal, 'admin')
  const acks = acksParam(c.req.query('acks'))
  const broker = c.var.broker
  const type = (c.req.header('content-type') ?? '').split(';')[0].trim().toLowerCase()
  const limit = maxRequestBytes(c.env)
  if (type === RECORD_BATCH_TYPE || type === 'application/octet-stream') {
    if (forcedPartition === undefined) fail('INVALID_REQUEST', 'Binary record batches go to /v1/topics/:topic/partitions/:p/records')
    const body = await readBody(c, limit, 'RECORD_LIST_TOO_LARGE')
    if (body.byteLength === 0) fail('CORRUPT_MESSAGE', 'Empty body: expected Kafka record batches')
    const batches = splitBatches(body)
    const transactionalId = c.req.query('transactionalId')
    const results = await broker.produce({ acks, transactionalId, entries: batches.map((batch) => ({ topic, partition: forcedPartition, batch })) })
    const failure = results.find((r) => r.error)
    // A refused batch may not even have a readable header (bad magic, negative count): only the
    // stored ones, which the partition validated, are read again for their record count.
    const out = results.map((r, i) => {
      if (r.error) return { partition: r.partition, error: r.error }
      const records = readBatchHeader(batches[i]).recordCount
      return { partition: r.partition, baseOffset: r.baseOffset, lastOffset: r.baseOffset + records - 1, records, logAppendTime: r.logAppendTime, logStartOffset: r.logStartOffset }
    })
    if (failure) return c.json({ error: failure.error!, batches: out }, statusOf(failure.error!.code) as never)
    return c.json({ batches: out })
  }
  if (type !== '' && type !== 'application/json') fail('INVALID_REQUEST', `Unsupported Content-Type ${type}: application/json or ${RECORD_BATCH_TYPE}`)
  const body = await readJson(c, limit, 'RECORD_LIST_TOO_LARGE')
  const encoding = encodingOf(c.req.query('encoding'))
  // Every record is validated, partitioned and encoded into batches that fit the topic's limits
  // before anything is sent: a bad record refuses the whole request and nothing is stored. The
  // metadata is the isolate's cache; a refusal that fresh metadata might lift (a partition index
  // past the cached count, a record over a cached max.message.bytes) is checked again first.
  const autoCreate = settingsOf(c.env)['auto.create.topics.enable']
  // A keyless record for a compacted topic is refused here too: the partition would refuse its
  // batch alone, after the other partitions had stored theirs.
  const build = (view: TopicView) => toPartitionBatches(body.records, view.partitions, {
    forcedPartition, encoding, maxRecords: MAX_RECORDS_PER_REQUEST, ...batchLimitOf(view),
    requireKeys: view.config['cleanup.policy'].includes('compact'),
  })
  const view = await broker.cluster.topic(topic, { autoCreate })
  let groups: ReturnType<typeof toPartitionBatches>
  try {
    groups = build(view)
  } catch (error) {
    if (!isEdgelogError(error, 'UNKNOWN_TOPIC_OR_PARTITION') && !isEdgelogError(error, 'MESSAGE_TOO_LARGE') && !isEdgelogError(error, 'INVALID_RECORD')) throw error
    groups = build(await broker.cluster.topic(topic, { fresh: true }))
  }
  const entries = groups.flatMap((g) => g.batches.map((batch) => ({ topic, partition: g.partition, batch })))
  const results = await broker.produce({ acks, entries }, { allOrNothing: true })
  const offsets: Array<{ partition: number; offset: number } | { partition: number; error: { code: string; message: string } }> = new Array((body.records as unknown[]).length)
  let k = 0
  let failure: { code: string; message: string } | undefined
  for (const g of groups) {
    let at = 0
    g.batches.forEach((_, b) => {
      const r = results[k++]
      for (let j = 0; j < g.counts[b]; j++) {
        const index = g.indexes[at + j]
        offsets[index] = r.error ? { partition: g.partition, error: r.error } : { partition: g.partition, offset: r.baseOffset + j }
      }
      if (r.error && !failure) failure = r.error
      at += g.counts[b]
    })
  }
  if (failure) return c.json({ error: failure, offsets }, statusOf(failure.code as never) as never)
  return c.json({ offsets })
}

/** Kafka's isolation.level: `read_committed` (1) or `read_uncommitted` (0, the default). */
function isolationParam(value: string | undefined): 0 | 1 {
  if (value === undefined || value === '' || value === 'read_uncommitted') return 0
  if (value === 'read_committed') return 1
  fail('INVALID_REQUEST', `isolation must be read_committed or read_uncommitted, got ${JSON.stringify(value)}`)
}
