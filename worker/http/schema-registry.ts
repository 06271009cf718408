/**
 * The schema registry at Confluent Schema Registry's own root paths (CONTRACTS.md §8), so a
 * Confluent client (`@kafkajs/confluent-schema-registry`, Confluent's serializers, curl
 * recipes) takes the Worker's URL as its host unchanged. Confluent's bodies, statuses and
 * error codes (`{ "error_code": 40401, "message": … }`); the registry itself lives in the
 * log (core/schemas: a compacted `_schemas` topic). Guarded by the same bearer tokens as /v1:
 * a token's `subjects` grants, or its grants on the topic of a `<topic>-key`/`<topic>-value`
 * subject (Confluent's TopicNameStrategy). See docs/schemas.md.
 */
import type { Context, Hono } from 'hono'
import { isEdgelogError } from '../../core/errors.ts'
import { SchemaRegistry } from '../../core/schemas/registry.ts'
import { RegistryState } from '../../core/schemas/store.ts'
import { SchemaRegistryError, isSchemaRegistryError } from '../../core/schemas/errors.ts'
import { REGISTRY_CONTENT_TYPE } from '../../core/schemas/client.ts'
import { SCHEMA_TYPES, type SchemaInput } from '../../core/schemas/schema-types.ts'
import { EdgeBroker } from '../edge-broker.ts'
import type { AppEnv } from './app.ts'
import { authenticate, type Access, type Principal } from './auth.ts'
import { MAX_CONTROL_BODY_BYTES, readBody } from './errors.ts'

type C = Context<AppEnv>

/**
 * The registry's state, kept by the isolate between requests: each request reads only what
 * was appended since (one fetch), and starts over if the topic was deleted or created again.
 */
const isolateState = new RegistryState()

export const SCHEMA_REGISTRY_PREFIXES = ['/subjects', '/schemas', '/config', '/compatibility', '/mode'] as const

export function mountSchemaRegistry(app: Hono<AppEnv>): void {
  const route = (method: 'get' | 'post' | 'put' | 'delete', path: string, handler: (c: C, registry: SchemaRegistry, principal: Principal) => Promise<unknown>, status = 200) => {
    app[method](path, async (c) => {
      try {
        const principal = await authenticate(c.env, c.req.raw, c.req.query('access_token'))
        const registry = new SchemaRegistry(new EdgeBroker(c.env, { clientHost: c.req.header('cf-connecting-ip') ?? '' }), { state: isolateState })
        const result = await handler(c, registry, principal)
        return answer(result, status)
      } catch (error) {
        return errorAnswer(error)
      }
    })
  }

  // ------------------------------------------------------------------ schemas by id
  route('get', '/schemas/types', async () => [...SCHEMA_TYPES])
  route('get', '/schemas/ids/:id', async (c, registry, principal) => {
    const id = (c.req.param('id') as string)
    await mayReadId(registry, principal, id)
    const found = await registry.schemaById(id)
    if (c.req.query('fetchMaxId') === 'true') return { ...found, maxId: registry.store.state.maxId }
    return found
  })
  route('get', '/schemas/ids/:id/schema', async (c, registry, principal) => {
    const id = (c.req.param('id') as string)
    await mayReadId(registry, principal, id)
    return raw((await registry.schemaById(id)).schema)
  })
  route('get', '/schemas/ids/:id/versions', async (c, registry, principal) => {
    const versions = await registry.idVersions((c.req.param('id') as string), { deleted: flag(c, 'deleted') })
    return versions.filter((v) => subjectAllowed(principal, v.subject, 'read'))
  })
  route('get', '/schemas/ids/:id/subjects', async (c, registry, principal) => {
    const subjects = await registry.idSubjects((c.req.param('id') as string), { deleted: flag(c, 'deleted') })
    return subjects.filter((s) => subjectAllowed(principal, s, 'read'))
  })

  // ------------------------------------------------------------------ subjects
  route('get', '/subjects', async (c, registry, principal) => {
    const subjects = await registry.subjects({ deleted: flag(c, 'deleted'), subjectPrefix: c.req.query('subjectPrefix') })
    return subjects.filter((s) => subjectAllowed(principal, s, 'describe'))
  })
  route('get', '/subjects/:subject/versions', async (c, registry, principal) =>
    registry.versions(subject(c, principal, 'read'), { deleted: flag(c, 'deleted') }))
  route('get', '/subjects/:subject/versions/:version', async (c, registry, principal) =>
    registry.getVersion(subject(c, principal, 'read'), c.req.param('version') as string, { deleted: flag(c, 'deleted') }))
  route('get', '/subjects/:subject/versions/:version/schema', async (c, registry, principal) =>
    raw((await registry.getVersion(subject(c, principal, 'read'), c.req.param('version') as string, { deleted: flag(c, 'deleted') })).schema))
  route('get', '/subjects/:subject/versions/:version/referencedby', async (c, registry, principal) =>
    registry.referencedBy(subject(c, principal, 'read'), c.req.param('version') as string))
  route('post', '/subjects/:subject/versions', async (c, registry, principal) =>
    registry.register(subject(c, principal, 'write'), await schemaBody(c)))
  route('post', '/subjects/:subject', async (c, registry, principal) =>
    registry.lookup(subject(c, principal, 'read'), await schemaBody(c), { deleted: flag(c, 'deleted') }))
  route('delete', '/subjects/:subject', async (c, registry, principal) =>
    registry.deleteSubject(subject(c, principal, 'admin'), { permanent: flag(c, 'permanent') }))
  route('delete', '/subjects/:subject/versions/:version', async (c, registry, principal) =>
    registry.deleteVersion(subject(c, principal, 'admin'), c.req.param('version') as string, { permanent: flag(c, 'permanent') }))

  // ------------------------------------------------------------------ compatibility
  route('post', '/compatibility/subjects/:subject/versions/:version', async (c, registry, principal) =>
    registry.testCompatibility(subject(c, principal, 'read'), c.req.param('version') as string, await schemaBody(c), { verbose: flag(c, 'verbose') }))
  route('post', '/compatibility/subjects/:subject/versions', async (c, registry, principal) =>
    registry.testCompatibility(subject(c, principal, 'read'), undefined, await schemaBody(c), { verbose: flag(c, 'verbose') }))

  // ------------------------------------------------------------------ config
  route('get', '/config', async (_c, registry) => registry.getConfig())
  route('put', '/config', async (c, registry, principal) => {
    if (!principal.cluster('admin')) throw new SchemaRegistryError('FORBIDDEN', 'Not authorized to change the global compatibility level (cluster admin)')
    return registry.setConfig(undefined, (await jsonBody(c)).compatibility)
  })
  route('delete', '/config', async (_c, registry, principal) => {
    if (!principal.cluster('admin')) throw new SchemaRegistryError('FORBIDDEN', 'Not authorized to change the global compatibility level (cluster admin)')
    return registry.deleteConfig()
  })
  route('get', '/config/:subject', async (c, registry, principal) =>
    registry.getConfig(subject(c, principal, 'read'), { defaultToGlobal: flag(c, 'defaultToGlobal') }))
  // `write`, not `admin`: Confluent's clients set the subject's level right after its first registration.
  route('put', '/config/:subject', async (c, registry, principal) =>
    registry.setConfig(subject(c, principal, 'write'), (await jsonBody(c)).compatibility))
  route('delete', '/config/:subject', async (c, registry, principal) =>
    registry.deleteConfig(subject(c, principal, 'admin')))

  // ------------------------------------------------------------------ mode (read-only: always READWRITE)
  route('get', '/mode', async () => ({ mode: 'READWRITE' }))
  route('get', '/mode/:subject', async () => ({ mode: 'READWRITE' }))
}

/** The answer in Confluent's media type; a string from `raw()` as the bare schema text. */
function answer(result: unknown, status: number): Response {
  if (result instanceof RawSchema) return new Response(result.text, { status, headers: { 'Content-Type': REGISTRY_CONTENT_TYPE } })
  return new Response(JSON.stringify(result), { status, headers: { 'Content-Type': REGISTRY_CONTENT_TYPE } })
}

class RawSchema { constructor(readonly text: string) {} }
const raw = (text: string) => new RawSchema(text)

/** Confluent's error body; edgelog's own errors (tokens, body size, the store) mapped onto its codes. */
export function errorAnswer(error: unknown): Response {
  let e: SchemaRegistryError
  if (isSchemaRegistryError(error)) e = error
  else if (isEdgelogError(error, 'UNAUTHENTICATED')) e = new SchemaRegistryError('UNAUTHENTICATED', error.message)
  else if (isEdgelogError(error) && error.code.endsWith('_AUTHORIZATION_FAILED')) e = new SchemaRegistryError('FORBIDDEN', error.message)
  else if (isEdgelogError(error, 'MESSAGE_TOO_LARGE')) return json({ error_code: 413, message: error.message }, 413)
  else if (isEdgelogError(error, 'INVALID_REQUEST')) e = new SchemaRegistryError('INVALID_REQUEST', error.message)
  else e = new SchemaRegistryError('STORE_ERROR', `Error in the backend data store: ${error instanceof Error ? error.message : String(error)}`)
  return json(e.toJSON(), e.status)
}

function json(body: unknown, status: number): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': REGISTRY_CONTENT_TYPE } })
}

function flag(c: C, name: string): boolean {
  return c.req.query(name) === 'true'
}

/** Whether the principal may act on a subject: its `subjects` grants, or the grants on the subject's topic (`<topic>-key|-value`). */
export function subjectAllowed(principal: Principal, subject: string, access: Access): boolean {
  if (principal.subject(subject, access)) return true
  const m = /^(.+)-(key|value)$/.exec(subject)
  return m !== null && principal.topic(m[1], access)
}

function subject(c: C, principal: Principal, access: Access): string {
  const name = c.req.param('subject') as string
  if (!subjectAllowed(principal, name, access)) throw new SchemaRegistryError('FORBIDDEN', `Not authorized to ${access} subject '${name}'`)
  return name
}

async function mayReadId(registry: SchemaRegistry, principal: Principal, id: string): Promise<void> {
  if (principal.kind === 'open') return
  const users = await registry.idSubjects(id, { deleted: true }).catch(() => [] as string[])
  if (users.length > 0 && !users.some((s) => subjectAllowed(principal, s, 'read'))) throw new SchemaRegistryError('FORBIDDEN', `Not authorized to read schema ${id}`)
}

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

async function jsonBody(c: C): Promise<Record<string, unknown>> {
  const bytes = await readBody(c, MAX_CONTROL_BODY_BYTES)
  let value: unknown
  try {
    value = JSON.parse(decoder.decode(bytes))
  } catch (e) {
    throw new SchemaRegistryError('INVALID_REQUEST', `Request body is not valid JSON: ${(e as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new SchemaRegistryError('INVALID_REQUEST', 'Request body must be a JSON object')
  return value as Record<string, unknown>
}

async function schemaBody(c: C): Promise<SchemaInput> {
  const body = await jsonBody(c)
  if (typeof body.schema !== 'string' || body.schema.trim() === '') throw new SchemaRegistryError('INVALID_SCHEMA', 'Empty schema: the body needs "schema", a string')
  if (body.schemaType !== undefined && body.schemaType !== null && typeof body.schemaType !== 'string') throw new SchemaRegistryError('INVALID_SCHEMA', 'schemaType must be a string')
  return { schema: body.schema, schemaType: (body.schemaType ?? undefined) as string | undefined, references: body.references as SchemaInput['references'] }
}
