/** The OpenAPI 3.1 document of the v1 API, served at /v1/openapi.json. */

type Schema = Record<string, unknown>
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: Schema) => ({ 'application/json': { schema } })
const ok = (description: string, schema: Schema, status = '200') => ({ [status]: { description, content: json(schema) } })
const errors = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [String(s), { $ref: `#/components/responses/Error${s}` }]))
const pathParam = (name: string, schema: Schema, description: string) => ({ name, in: 'path', required: true, schema, description })
const query = (name: string, schema: Schema, description: string) => ({ name, in: 'query', required: false, schema, description })
const body = (schema: Schema, extra: Record<string, unknown> = {}) => ({ required: true, content: { ...json(schema), ...extra } })

const topic = pathParam('topic', { type: 'string', pattern: '^[a-zA-Z0-9._-]{1,249}$' }, 'Topic name (Kafka rules)')
const partition = pathParam('p', { type: 'integer', minimum: 0 }, 'Partition index')
const group = pathParam('group', { type: 'string', minLength: 1, maxLength: 255 }, 'Consumer group id')
const acks = query('acks', { enum: ['-1', 'all', '1', '0'] }, 'Kafka acks: -1/all (default) waits for durable storage')
const encoding = query('encoding', { enum: ['utf8', 'base64'] }, 'How keys, values and header values are written as JSON strings (default utf8)')
const offsetQ = query('offset', { oneOf: [{ type: 'integer', minimum: 0 }, { enum: ['earliest', 'latest'] }] }, 'First offset to read (default earliest)')
const str = { type: 'string' }
const int = { type: 'integer' }
const nullableStr = { type: ['string', 'null'] }
const batchType = 'application/vnd.kafka.record-batch'
const rb = { schema: { type: 'string', contentMediaType: batchType, description: 'Kafka RecordBatch v2 bytes, one or more concatenated' } }

// The schema registry (Confluent's API, docs/schemas.md).
const srSubject = pathParam('subject', { type: 'string' }, 'Subject (e.g. <topic>-value)')
const srVersionParam = pathParam('version', { oneOf: [{ type: 'integer', minimum: 1 }, { enum: ['latest', '-1'] }] }, 'Version, or latest')
const srId = pathParam('id', { type: 'integer', minimum: 1 }, 'Global schema id')
const srLevel = { enum: ['BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE', 'NONE'] }
const srBody = body({ type: 'object', required: ['schema'], properties: { schema: str, schemaType: { enum: ['AVRO', 'JSON'] }, references: { type: 'array', items: { type: 'object', properties: { name: str, subject: str, version: int } } } } })
const srVersion = { type: 'object', properties: { subject: str, id: int, version: int, schema: str, schemaType: str } }
const srErrors = (...codes: number[]) => {
  const byStatus = new Map<string, number[]>()
  for (const code of codes) {
    const status = String(code === 409 ? 409 : Math.floor(code / 100))
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  return Object.fromEntries([...byStatus].map(([status, list]) => [status, {
    description: `Confluent error_code ${list.join(', ')}`, content: { 'application/vnd.schemaregistry.v1+json': { schema: { type: 'object', properties: { error_code: int, message: str } } } },
  }]))
}

export const openapi = {
  openapi: '3.1.0',
  info: {
    title: 'edgelog HTTP API',
    version: '1',
    description: "Apache Kafka's log on Durable Objects: topics, partitions, offsets, consumer groups (KIP-848). Errors are { error: { code, message } } with Kafka's error names.",
  },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }],
  paths: {
    // The Durable Streams protocol (docs/durable-streams.md): each stream is partition 0 of the topic `ds.<path>`.
    '/ds/{path}': {
      parameters: [{ name: 'path', in: 'path', required: true, schema: { type: 'string' }, description: 'Stream path (may contain /); the stream is topic ds.<path with / as .>, partition 0' }],
      put: { summary: 'Durable Streams: create a stream (Content-Type fixed; Stream-TTL or Stream-Expires-At; Stream-Closed; Stream-Forked-From / Stream-Fork-Offset / Stream-Fork-Sub-Offset)', responses: { 201: { description: 'Created (Location, Stream-Next-Offset)' }, 200: { description: 'Exists with the same configuration' }, 409: { description: 'Exists with another configuration' } } },
      post: { summary: 'Durable Streams: append (JSON arrays flattened one level; Stream-Seq; Producer-Id/Epoch/Seq; Stream-Closed)', responses: { 200: { description: 'Appended (idempotent producer)' }, 204: { description: 'Appended, closed, or a duplicate' }, 400: { description: 'Bad request' }, 403: { description: 'Stale producer epoch' }, 404: { description: 'No such stream' }, 409: { description: 'Closed, content-type mismatch, Stream-Seq regression, producer sequence gap' } } },
      get: {
        summary: 'Durable Streams: read from ?offset= (-1, now, or a Stream-Next-Offset token); live=long-poll or live=sse; cursor=',
        parameters: [query('offset', str, '-1 (start), now (tail) or an offset token'), query('live', { enum: ['long-poll', 'sse'] }, 'Live mode'), query('cursor', str, 'Echo of Stream-Cursor')],
        responses: { 200: { description: 'Data (Stream-Next-Offset, Stream-Up-To-Date, Stream-Closed, ETag)' }, 204: { description: 'Long-poll timed out, or EOF' }, 304: { description: 'If-None-Match matched' }, 404: { description: 'No such stream' } },
      },
      head: { summary: 'Durable Streams: metadata (Content-Type, Stream-Next-Offset, Stream-TTL, Stream-Expires-At, Stream-Closed)', responses: { 200: { description: 'The stream exists' }, 404: { description: 'No such stream' } } },
      delete: { summary: 'Durable Streams: delete the stream (and its topic)', responses: { 204: { description: 'Deleted' }, 404: { description: 'No such stream' }, 410: { description: 'Already deleted, forks still read it' } } },
    },
    '/v1/health': { get: { summary: 'Liveness', security: [], responses: ok('Alive', { type: 'object', properties: { ok: { type: 'boolean' } } }) } },
    '/v1/openapi.json': { get: { summary: 'This document', security: [], responses: ok('OpenAPI 3.1', { type: 'object' }) } },
    '/v1/cluster': { get: { summary: 'Cluster id and brokers (describeCluster): one broker per replica region (node id = broker index, host = location hint)', responses: { ...ok('Cluster', ref('Cluster')), ...errors(401) } } },
    '/v1/elect-leaders': {
      post: {
        summary: "Kafka's ElectLeaders, PREFERRED: each partition's first replica leads if it is a reachable in-sync replica (cluster admin)",
        parameters: [query('errors', { enum: ['inline'] }, 'inline: answer 200 with per-partition errors')],
        requestBody: body({ type: 'object', required: ['partitions'], properties: { electionType: { enum: ['PREFERRED'] }, partitions: { type: 'array', items: { type: 'object', properties: { topic: str, partition: int } } } } }),
        responses: { ...ok('Per partition; failed ones carry error (ELECTION_NOT_NEEDED 409, PREFERRED_LEADER_NOT_AVAILABLE 503)', ref('PartitionResults')), ...errors(400, 401, 403, 404, 409, 503) },
      },
    },
    '/v1/partition-reassignments': {
      get: {
        summary: "Kafka's ListPartitionReassignments: those in progress, with adding and removing replicas",
        parameters: [query('topic', str, 'Only this topic')],
        responses: { ...ok('Reassignments in progress', { type: 'object', properties: { topics: { type: 'array', items: { type: 'object', properties: { topic: str, partitions: { type: 'array', items: { type: 'object', properties: { partition: int, replicas: { type: 'array', items: int }, addingReplicas: { type: 'array', items: int }, removingReplicas: { type: 'array', items: int } } } } } } } } }), ...errors(401, 403, 404) },
      },
      post: {
        summary: "Kafka's AlterPartitionReassignments: new replicas per partition (null cancels); added replicas copy the log and join the ISR before the removed ones go (cluster admin)",
        parameters: [query('errors', { enum: ['inline'] }, 'inline: answer 200 with per-partition errors')],
        requestBody: body({ type: 'object', required: ['topics'], properties: { topics: { type: 'array', items: { type: 'object', properties: { topic: str, partitionAssignment: { type: 'array', items: { type: 'object', properties: { partition: int, replicas: { type: ['array', 'null'], items: int } } } } } } } } }),
        responses: { ...ok('Per partition; failed ones carry error', ref('PartitionResults')), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/metadata': {
      post: {
        summary: "Topic metadata (Kafka's Metadata request); auto-creates when asked and allowed",
        requestBody: body({ type: 'object', properties: { topics: { type: 'array', items: str }, allowAutoTopicCreation: { type: 'boolean' } } }),
        responses: { ...ok('Topics', { type: 'object', properties: { topics: { type: 'array', items: ref('TopicMetadata') } } }), ...errors(400, 401, 403, 404) },
      },
    },
    '/v1/producers': { post: { summary: 'Allocate an idempotent producer id (InitProducerId)', responses: { ...ok('Producer id', { type: 'object', properties: { producerId: int, producerEpoch: int } }), ...errors(401, 403) } } },
    '/v1/maintenance': { post: { summary: 'Run retention and compaction on every topic now (cluster admin)', responses: { ...ok('Done', { type: 'object' }), ...errors(401, 403) } } },
    '/v1/topics': {
      get: { summary: 'List topics (those the token may see)', responses: { ...ok('Topics', { type: 'object', properties: { topics: { type: 'array', items: ref('Topic') } } }), ...errors(401) } },
      post: {
        summary: 'Create a topic ({ name, partitions?, config? }), or several in Kafka form ({ topics: [TopicSpec], validateOnly? })',
        requestBody: body({ oneOf: [ref('CreateTopic'), { type: 'object', required: ['topics'], properties: { topics: { type: 'array', items: ref('TopicSpec') }, validateOnly: { type: 'boolean' } } }] }),
        responses: { ...ok('Created', ref('Topic'), '201'), ...ok('Kafka form: per topic whether it was created', { type: 'object', properties: { results: { type: 'array', items: { type: 'object', properties: { topic: str, created: { type: 'boolean' } } } } } }), ...errors(400, 401, 403, 409, 413) },
      },
    },
    '/v1/topics/{topic}': {
      parameters: [topic],
      get: { summary: 'Describe a topic: config and, per partition, logStartOffset, highWatermark, size and segments', responses: { ...ok('Topic', ref('TopicDescription')), ...errors(400, 401, 403, 404) } },
      patch: {
        summary: 'Add partitions (increase only) and/or change config (null resets a key); both are checked before either is applied',
        requestBody: body({ type: 'object', properties: { partitions: { type: 'integer', minimum: 1 }, config: { type: 'object', additionalProperties: { type: ['string', 'number', 'null'] } } } }),
        responses: { ...ok('Topic', ref('TopicDescription')), ...errors(400, 401, 403, 404) },
      },
      delete: { summary: 'Delete a topic and all its records (503 NETWORK_EXCEPTION: marked for deletion, completes later or on retry)', responses: { ...ok('Deleted', { type: 'object', properties: { deleted: str } }), ...errors(400, 401, 403, 404, 503) } },
    },
    '/v1/topics/{topic}/maintenance': { parameters: [topic], post: { summary: "Run the topic's retention and compaction now", responses: { ...ok('Done', { type: 'object' }), ...errors(401, 403, 404) } } },
    ...transactionPaths(),
    '/v1/topics/{topic}/delete-records': {
      parameters: [topic],
      post: {
        summary: "Kafka's DeleteRecords: move each partition's log start up to an offset (-1: the high watermark)",
        parameters: [query('errors', { enum: ['inline'] }, 'inline: answer 200 with per-partition errors')],
        requestBody: body({ type: 'object', required: ['partitions'], properties: { partitions: { type: 'array', items: { type: 'object', properties: { partition: { type: 'integer' }, offset: { type: 'integer', minimum: -1 } } } } } }),
        responses: { ...ok('Low watermarks', { type: 'object' }), ...errors(400, 401, 403, 404, 416) },
      },
    },
    '/v1/replicas/{topic}': {
      parameters: [topic],
      put: {
        summary: "MirrorMaker's target: create (with the source's topic id) or grow a replica topic; 409 INCONSISTENT_TOPIC_ID if the name holds another log",
        requestBody: body({ type: 'object', required: ['topicId', 'partitions'], properties: { topicId: str, partitions: { type: 'integer', minimum: 1 }, config: { type: 'object' }, source: str } }),
        responses: { ...ok('Replica topic', { type: 'object' }), ...errors(400, 401, 403, 409) },
      },
      get: { summary: "The replica's partitions: own and source's log start and high watermark, lag, last sync", responses: { ...ok('Status', { type: 'object' }), ...errors(400, 401, 403, 404) } },
    },
    '/v1/replicas/{topic}/partitions/{p}/records': {
      parameters: [topic, partition],
      post: {
        summary: "Append the source's record batches at the offsets they carry (binary body)",
        parameters: [query('topicId', str, "The source's topic id"), query('logStartOffset', { type: 'integer' }, "The source's"), query('highWatermark', { type: 'integer' }, "The source's")],
        responses: { ...ok('Appended', { type: 'object', properties: { highWatermark: { type: 'integer' }, appended: { type: 'integer' } } }), ...errors(400, 401, 403, 404, 409) },
      },
    },
    '/v1/replicas/{topic}/partitions/{p}/reset': {
      parameters: [topic, partition],
      post: { summary: "Empty the replica and restart it at the source's log start (its retention passed the replica)", responses: { ...ok('Done', { type: 'object' }), ...errors(400, 401, 403, 404, 409) } },
    },
    '/v1/topics/{topic}/offsets': {
      parameters: [topic],
      get: {
        summary: 'List offsets (earliest, latest, or the first at or after a timestamp) per partition',
        parameters: [query('at', { oneOf: [{ enum: ['earliest', 'latest'] }, { type: 'integer' }] }, 'earliest, latest (default) or a timestamp in ms'), query('partitions', str, 'Comma-separated partitions (default all)')],
        responses: { ...ok('Offsets', { type: 'object', properties: { offsets: { type: 'array', items: ref('ListedOffset') } } }), ...errors(400, 401, 403, 404) },
      },
    },
    '/v1/topics/{topic}/partitions/{p}/offsets': {
      parameters: [topic, partition],
      get: { summary: 'List one partition\'s offset', parameters: [query('at', { oneOf: [{ enum: ['earliest', 'latest'] }, { type: 'integer' }] }, 'earliest, latest (default) or a timestamp in ms')], responses: { ...ok('Offset', ref('ListedOffset')), ...errors(400, 401, 403, 404) } },
    },
    '/v1/topics/{topic}/records': {
      parameters: [topic],
      post: {
        summary: 'Produce JSON records: partition given, else murmur2(key), else one partition per request (sticky)',
        parameters: [acks, encoding],
        requestBody: body({ type: 'object', required: ['records'], properties: { records: { type: 'array', items: ref('RecordIn') } } }),
        responses: { ...ok('One offset per record, in order', ref('ProduceResponse')), ...errors(400, 401, 403, 404, 409, 413) },
      },
    },
    '/v1/topics/{topic}/partitions/{p}/records': {
      parameters: [topic, partition],
      post: {
        summary: 'Produce to one partition: JSON records, or Kafka record batches (binary)',
        parameters: [acks, encoding, query('transactionalId', str, 'Binary: the transactional producer of the batches (checked with its coordinator)')],
        requestBody: body({ type: 'object', required: ['records'], properties: { records: { type: 'array', items: ref('RecordIn') } } }, { [batchType]: rb, 'application/octet-stream': rb }),
        responses: { ...ok('JSON: one offset per record; binary: one entry per batch', { oneOf: [ref('ProduceResponse'), ref('BatchProduceResponse')] }), ...errors(400, 401, 403, 404, 409, 413) },
      },
      get: {
        summary: 'Fetch records from an offset; waits up to maxWaitMs for new ones (long poll). Accept: application/vnd.kafka.record-batch for the stored batches as is',
        parameters: [offsetQ, query('maxBytes', { type: 'integer', minimum: 1 }, 'Bytes to aim for (default 1 MiB; the first batch is always whole)'), query('maxWaitMs', { type: 'integer', minimum: 0, maximum: 60000 }, 'Long-poll wait (default 0)'), query('minBytes', { type: 'integer', minimum: 1 }, 'Bytes to wait for (default 1)'), encoding, query('isolation', { enum: ['read_uncommitted', 'read_committed'] }, "Kafka's isolation level (default read_uncommitted)")],
        responses: {
          '200': {
            description: 'Records. Headers Edgelog-High-Watermark, Edgelog-Log-Start-Offset, Edgelog-Next-Offset, Edgelog-Batch-Count, Edgelog-Topic-Id; read_committed also Edgelog-Last-Stable-Offset and Edgelog-Aborted-Transactions',
            content: { ...json(ref('FetchResponse')), [batchType]: rb },
          },
          ...errors(400, 401, 403, 404, 416),
        },
      },
    },
    '/v1/topics/{topic}/partitions/{p}/tail': {
      parameters: [topic, partition],
      get: {
        summary: 'Live tail as Server-Sent Events (event: record, id: offset; resumes after Last-Event-ID), or, with Upgrade: websocket, as a WebSocket with credit-based back-pressure (docs/http-api.md)',
        parameters: [query('offset', { oneOf: [{ type: 'integer' }, { enum: ['earliest', 'latest'] }] }, 'Start (default latest)'), query('limit', int, 'Close after this many records'), query('credit', int, 'WebSocket: records the client takes before it sends { "credit": n } (default 1000)'), query('access_token', str, 'The bearer token, for EventSource and WebSocket (which cannot send headers)'), encoding, { name: 'Last-Event-ID', in: 'header', required: false, schema: str }],
        responses: { '101': { description: 'WebSocket tail: JSON messages { type: records | idle | error }' }, '200': { description: 'text/event-stream', content: { 'text/event-stream': { schema: str } } }, ...errors(400, 401, 403, 404, 416) },
      },
    },
    '/v1/groups': { get: { summary: 'List consumer groups', responses: { ...ok('Groups', { type: 'object', properties: { groups: { type: 'array', items: { type: 'object', properties: { groupId: str, protocolType: str, state: str } } } } }), ...errors(401) } } },
    '/v1/groups/{group}': {
      parameters: [group],
      get: { summary: 'Describe a group: state, assignor, members with assignments, committed offsets with lag', responses: { ...ok('Group', ref('GroupDescription')), ...errors(401, 403, 404) } },
      delete: { summary: 'Delete an empty group and its offsets', responses: { ...ok('Deleted', { type: 'object', properties: { deleted: str } }), ...errors(401, 403, 404, 409) } },
    },
    '/v1/groups/{group}/heartbeat': {
      parameters: [group],
      post: {
        summary: "KIP-848 ConsumerGroupHeartbeat: join (memberEpoch 0), heartbeat, acknowledge revocations, leave (-1)",
        requestBody: body(ref('HeartbeatRequest')),
        responses: { ...ok('Assignment', ref('HeartbeatResponse')), ...errors(400, 401, 403, 409) },
      },
    },
    '/v1/groups/{group}/offsets': {
      parameters: [group],
      get: { summary: 'Committed offsets', parameters: [query('topics', str, 'Comma-separated topics (default all)')], responses: { ...ok('Offsets', { type: 'object', properties: { offsets: { type: 'array', items: ref('CommittedOffset') } } }), ...errors(400, 401, 403) } },
      post: {
        summary: 'Commit offsets (as a member: memberId and memberEpoch; or as an admin of an empty group)',
        requestBody: body({ type: 'object', required: ['offsets'], properties: { memberId: str, memberEpoch: int, offsets: { type: 'array', items: { type: 'object', required: ['topic', 'partition', 'offset'], properties: { topic: str, partition: int, offset: int, metadata: nullableStr } } } } }),
        responses: { ...ok('Committed', { type: 'object', properties: { committed: int } }), ...errors(400, 401, 403, 409) },
      },
    },
    // The schema registry at Confluent's root paths (docs/schemas.md): Confluent's bodies and { error_code, message } errors.
    '/subjects': { get: { summary: 'Schema registry: subjects', parameters: [query('deleted', { type: 'boolean' }, 'Include soft-deleted subjects'), query('subjectPrefix', str, 'Only subjects starting with this')], responses: ok('Subjects', { type: 'array', items: str }) } },
    '/subjects/{subject}': {
      parameters: [srSubject],
      post: { summary: 'Schema registry: is this schema registered under the subject (lookup)', requestBody: srBody, responses: { ...ok('The version', srVersion), ...srErrors(40401, 40403, 42201) } },
      delete: { summary: 'Schema registry: delete the subject (soft; then ?permanent=true)', parameters: [query('permanent', { type: 'boolean' }, 'Hard delete (after a soft one)')], responses: { ...ok('Versions deleted', { type: 'array', items: int }), ...srErrors(40401, 40404, 40405, 42206) } },
    },
    '/subjects/{subject}/versions': {
      parameters: [srSubject],
      get: { summary: 'Schema registry: versions of the subject', responses: { ...ok('Versions', { type: 'array', items: int }), ...srErrors(40401) } },
      post: { summary: 'Schema registry: register a schema (the existing id when already registered)', requestBody: srBody, responses: { ...ok('Its id', { type: 'object', properties: { id: int } }), ...srErrors(409, 42201) } },
    },
    '/subjects/{subject}/versions/{version}': {
      parameters: [srSubject, srVersionParam],
      get: { summary: 'Schema registry: one version', responses: { ...ok('The version', srVersion), ...srErrors(40401, 40402, 42202) } },
      delete: { summary: 'Schema registry: delete one version (soft; then ?permanent=true)', parameters: [query('permanent', { type: 'boolean' }, 'Hard delete (after a soft one)')], responses: { ...ok('The version deleted', int), ...srErrors(40401, 40402, 40406, 40407, 42206) } },
    },
    '/subjects/{subject}/versions/{version}/schema': { parameters: [srSubject, srVersionParam], get: { summary: 'Schema registry: the schema text alone', responses: { 200: { description: 'The schema' }, ...srErrors(40401, 40402) } } },
    '/schemas/ids/{id}': { parameters: [srId], get: { summary: 'Schema registry: a schema by its global id', responses: { ...ok('The schema', { type: 'object', properties: { schema: str, schemaType: str, references: { type: 'array' } } }), ...srErrors(40403) } } },
    '/schemas/ids/{id}/versions': { parameters: [srId], get: { summary: 'Schema registry: subject-versions using the id', responses: { ...ok('Subject-versions', { type: 'array', items: { type: 'object', properties: { subject: str, version: int } } }), ...srErrors(40403) } } },
    '/schemas/types': { get: { summary: 'Schema registry: schema types (AVRO, JSON)', responses: ok('Types', { type: 'array', items: str }) } },
    '/compatibility/subjects/{subject}/versions/{version}': {
      parameters: [srSubject, srVersionParam],
      post: { summary: 'Schema registry: is the schema compatible with this version (the subject level)', parameters: [query('verbose', { type: 'boolean' }, 'Say why not')], requestBody: srBody, responses: { ...ok('Verdict', { type: 'object', properties: { is_compatible: { type: 'boolean' }, messages: { type: 'array', items: str } } }), ...srErrors(40401, 40402, 42201) } },
    },
    '/config': {
      get: { summary: 'Schema registry: the global compatibility level', responses: ok('Level', { type: 'object', properties: { compatibilityLevel: srLevel } }) },
      put: { summary: 'Schema registry: set the global level (cluster admin)', requestBody: body({ type: 'object', properties: { compatibility: srLevel } }), responses: { ...ok('Level', { type: 'object', properties: { compatibility: srLevel } }), ...srErrors(42203) } },
    },
    '/config/{subject}': {
      parameters: [srSubject],
      get: { summary: "Schema registry: the subject's level", parameters: [query('defaultToGlobal', { type: 'boolean' }, 'The global level when the subject has none')], responses: { ...ok('Level', { type: 'object', properties: { compatibilityLevel: srLevel } }), ...srErrors(40408) } },
      put: { summary: "Schema registry: set the subject's level", requestBody: body({ type: 'object', properties: { compatibility: srLevel } }), responses: { ...ok('Level', { type: 'object', properties: { compatibility: srLevel } }), ...srErrors(42203) } },
      delete: { summary: "Schema registry: remove the subject's level", responses: { ...ok('The level it had', { type: 'object', properties: { compatibilityLevel: srLevel } }), ...srErrors(40401) } },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A token of EDGELOG_TOKENS' } },
    responses: Object.fromEntries([400, 401, 403, 404, 409, 413, 416, 503].map((s) => [`Error${s}`, { description: `Error (${s})`, content: json(ref('Error')) }])),
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string', description: "Kafka's error name, e.g. UNKNOWN_TOPIC_OR_PARTITION" }, message: str } } } },
      Cluster: { type: 'object', properties: { clusterId: str, brokers: { type: 'array', items: { type: 'object', properties: { nodeId: int, host: str, port: int } } }, controller: int } },
      PartitionResults: { type: 'object', properties: { partitions: { type: 'array', items: { type: 'object', properties: { topic: str, partition: int, error: { type: 'object', properties: { code: str, message: str } } } } } } },
      TopicConfig: { type: 'object', additionalProperties: true, description: 'Kafka topic configs: retention.ms, retention.bytes, segment.bytes, segment.ms, cleanup.policy, max.message.bytes, min.compaction.lag.ms, delete.retention.ms, message.timestamp.type' },
      CreateTopic: { type: 'object', required: ['name'], properties: { name: str, partitions: { type: 'integer', minimum: 1 }, config: { type: 'object', additionalProperties: { type: ['string', 'number'] } } } },
      TopicSpec: { type: 'object', required: ['topic'], properties: { topic: str, numPartitions: int, replicationFactor: int, configEntries: { type: 'array', items: { type: 'object', properties: { name: str, value: str } } } } },
      Topic: { type: 'object', properties: { name: str, topicId: str, partitions: int, config: ref('TopicConfig') } },
      TopicMetadata: { type: 'object', properties: { name: str, topicId: str, config: ref('TopicConfig'), partitions: { type: 'array', items: { type: 'object', properties: { partitionId: int, leader: int } } } } },
      TopicDescription: {
        type: 'object',
        properties: {
          name: str, topicId: str, config: ref('TopicConfig'),
          partitions: { type: 'array', items: { type: 'object', properties: { partition: int, logStartOffset: int, highWatermark: int, sizeBytes: int, segments: { type: 'array', items: { type: 'object', properties: { baseOffset: int, endOffset: int, sizeBytes: int, batches: int, createdAt: int, maxTimestamp: int } } } } } },
        },
      },
      ListedOffset: { type: 'object', properties: { partition: int, offset: int, timestamp: int } },
      RecordIn: {
        type: 'object', required: ['value'],
        properties: { key: nullableStr, value: nullableStr, headers: { oneOf: [{ type: 'object', additionalProperties: nullableStr }, { type: 'array', items: { type: 'object', properties: { key: str, value: nullableStr } } }] }, partition: int, timestamp: int },
      },
      RecordOut: { type: 'object', properties: { offset: int, timestamp: int, key: nullableStr, value: nullableStr, headers: { type: 'object', additionalProperties: nullableStr } } },
      ProduceResponse: { type: 'object', properties: { offsets: { type: 'array', items: { type: 'object', properties: { partition: int, offset: int } } } } },
      BatchProduceResponse: { type: 'object', properties: { batches: { type: 'array', items: { type: 'object', properties: { partition: int, baseOffset: int, lastOffset: int, records: int } } } } },
      FetchResponse: { type: 'object', properties: { records: { type: 'array', items: ref('RecordOut') }, highWatermark: int, logStartOffset: int, nextOffset: int } },
      HeartbeatRequest: {
        type: 'object', required: ['memberEpoch'],
        properties: { memberId: str, memberEpoch: int, instanceId: nullableStr, clientId: str, rackId: nullableStr, rebalanceTimeoutMs: int, sessionTimeoutMs: int, subscribedTopicNames: { type: ['array', 'null'], items: str }, subscribedTopicRegex: nullableStr, serverAssignors: { type: ['array', 'null'], items: { enum: ['range', 'roundrobin', 'cooperative-sticky'] } }, topicPartitions: { type: ['array', 'null'], items: ref('TopicPartitions') } },
      },
      TopicPartitions: { type: 'object', properties: { topic: str, partitions: { type: 'array', items: int } } },
      HeartbeatResponse: { type: 'object', properties: { memberId: str, memberEpoch: int, heartbeatIntervalMs: int, assignment: { type: ['array', 'null'], items: ref('TopicPartitions') } } },
      CommittedOffset: { type: 'object', properties: { topic: str, partition: int, offset: int, metadata: nullableStr } },
      GroupDescription: {
        type: 'object',
        properties: {
          groupId: str, state: str, protocolType: str, protocol: str, groupEpoch: int, lag: int,
          members: { type: 'array', items: { type: 'object', properties: { memberId: str, instanceId: nullableStr, clientId: str, clientHost: str, memberEpoch: int, subscribedTopicNames: { type: 'array', items: str }, assignment: { type: 'array', items: ref('TopicPartitions') } } } },
          offsets: { type: 'array', items: { type: 'object', properties: { topic: str, partition: int, offset: int, metadata: nullableStr, highWatermark: int, lag: int } } },
        },
      },
    },
  },
} as const

/** Kafka's transaction requests (worker/http/transactions.ts). */
function transactionPaths() {
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'The transactional id' }
  const producer = { producerId: { type: 'integer' }, producerEpoch: { type: 'integer' } }
  const route = (summary: string, properties: Record<string, unknown>, required: string[]) => ({
    parameters: [id],
    post: {
      summary,
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required, properties } } } },
      responses: { '200': { description: 'Done' }, '400': { description: 'Invalid request' }, '401': { description: 'No or bad token' }, '403': { description: 'Not authorized' }, '409': { description: 'PRODUCER_FENCED, INVALID_TXN_STATE, CONCURRENT_TRANSACTIONS…' } },
    },
  })
  const partitions = { type: 'array', items: { type: 'object', properties: { topic: { type: 'string' }, partitions: { type: 'array', items: { type: 'integer' } } } } }
  const offsets = { type: 'array', items: { type: 'object', properties: { topic: { type: 'string' }, partition: { type: 'integer' }, offset: { type: 'integer' } } } }
  return {
    '/v1/transactions/{id}/producer': route("InitProducerId: a new producer epoch for the transactional id (fencing the previous one, whose open transaction is aborted)", { transactionTimeoutMs: { type: 'integer' }, ...producer }, []),
    '/v1/transactions/{id}/partitions': route('AddPartitionsToTxn', { ...producer, topics: partitions }, ['producerId', 'producerEpoch', 'topics']),
    '/v1/transactions/{id}/groups': route('AddOffsetsToTxn', { ...producer, groupId: { type: 'string' } }, ['producerId', 'producerEpoch', 'groupId']),
    '/v1/transactions/{id}/offsets': route('TxnOffsetCommit: offsets committed when the transaction commits', { ...producer, groupId: { type: 'string' }, offsets }, ['producerId', 'producerEpoch', 'groupId', 'offsets']),
    '/v1/transactions/{id}/end': route('EndTxn: commit or abort; answers once every marker is written', { ...producer, committed: { type: 'boolean' } }, ['producerId', 'producerEpoch', 'committed']),
  }
}
