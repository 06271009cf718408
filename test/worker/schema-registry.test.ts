/**
 * The schema registry inside workerd (the Worker and its Durable Objects): Confluent's root
 * paths with its bodies and error codes, the registry in the `_schemas` topic (readable
 * through /v1 too), tokens with subject grants or grants on the subject's topic, and nothing
 * stored on a refusal.
 */
import { createExecutionContext, env, SELF } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { app } from '../../worker/index.ts'

const BASE = 'http://127.0.0.1'
const CT = 'application/vnd.schemaregistry.v1+json'

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await SELF.fetch(`${BASE}${path}`, { method, headers: { 'content-type': CT }, body: body === undefined ? undefined : JSON.stringify(body) })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) }
}

const user = (extra: unknown[] = []) => JSON.stringify({ type: 'record', name: 'User', fields: [{ name: 'name', type: 'string' }, ...extra] })

describe('schema registry at the Worker root', () => {
  it('registers, lists, reads by id and version, looks up, and refuses incompatible changes with 409', async () => {
    expect(await call('POST', '/subjects/users-value/versions', { schema: user() })).toEqual({ status: 200, body: { id: 1 } })
    expect(await call('POST', '/subjects/users-value/versions', { schema: user([{ name: 'age', type: 'int', default: 0 }]) })).toEqual({ status: 200, body: { id: 2 } })
    expect(await call('GET', '/subjects')).toEqual({ status: 200, body: ['users-value'] })
    expect(await call('GET', '/subjects/users-value/versions')).toEqual({ status: 200, body: [1, 2] })
    expect(await call('GET', '/subjects/users-value/versions/latest')).toEqual({ status: 200, body: { subject: 'users-value', version: 2, id: 2, schema: user([{ name: 'age', type: 'int', default: 0 }]) } })
    const raw = await SELF.fetch(`${BASE}/subjects/users-value/versions/1/schema`)
    expect(await raw.text()).toBe(user())
    expect(await call('GET', '/schemas/ids/1')).toEqual({ status: 200, body: { schema: user() } })
    expect(await call('GET', '/schemas/ids/2/versions')).toEqual({ status: 200, body: [{ subject: 'users-value', version: 2 }] })
    expect(await call('GET', '/schemas/types')).toEqual({ status: 200, body: ['AVRO', 'JSON'] })
    expect(await call('POST', '/subjects/users-value', { schema: user() })).toEqual({ status: 200, body: { subject: 'users-value', version: 1, id: 1, schema: user() } })
    const bad = await call('POST', '/subjects/users-value/versions', { schema: user([{ name: 'email', type: 'string' }]) })
    expect(bad.status).toBe(409)
    expect(bad.body.error_code).toBe(409)
    expect(bad.body.message).toContain('READER_FIELD_MISSING_DEFAULT_VALUE')
    expect(await call('GET', '/subjects/users-value/versions')).toEqual({ status: 200, body: [1, 2] })
    expect(await call('POST', '/compatibility/subjects/users-value/versions/latest', { schema: user([{ name: 'email', type: 'string', default: '' }]) })).toEqual({ status: 200, body: { is_compatible: true } })
  })

  it('stores the registry in the compacted _schemas topic', async () => {
    await call('POST', '/subjects/a-value/versions', { schema: '"string"' })
    const topic = await (await SELF.fetch(`${BASE}/v1/topics/_schemas`)).json() as { config: Record<string, unknown>; partitions: unknown[] }
    expect(topic.config['cleanup.policy']).toBe('compact')
    expect(topic.partitions).toHaveLength(1)
    const records = await (await SELF.fetch(`${BASE}/v1/topics/_schemas/partitions/0/records?offset=0`)).json() as { records: Array<{ key: string; value: string }> }
    expect(records.records.map((r) => JSON.parse(r.key))).toContainEqual({ keytype: 'SCHEMA', subject: 'a-value', version: 1, magic: 1 })
  })

  it("refuses bad input with Confluent's codes and stores nothing", async () => {
    await call('POST', '/subjects/s-value/versions', { schema: user() })
    const before = await (await SELF.fetch(`${BASE}/v1/topics/_schemas/partitions/0/offsets?at=latest`)).json()
    expect(await call('POST', '/subjects/s-value/versions', { schema: '{"type":"record","name":"X","fields":[{"name":"a","type":"Missing"}]}' })).toMatchObject({ status: 422, body: { error_code: 42201 } })
    expect(await call('POST', '/subjects/s-value/versions', { schema: '{}', schemaType: 'PROTOBUF' })).toMatchObject({ status: 422, body: { error_code: 42201 } })
    expect(await call('POST', '/subjects/s-value/versions', {})).toMatchObject({ status: 422, body: { error_code: 42201 } })
    expect(await call('PUT', '/config/s-value', { compatibility: 'BACKWARDS' })).toMatchObject({ status: 422, body: { error_code: 42203 } })
    expect(await call('GET', '/subjects/s-value/versions/0')).toMatchObject({ status: 422, body: { error_code: 42202 } })
    expect(await call('GET', '/subjects/none/versions/1')).toMatchObject({ status: 404, body: { error_code: 40401 } })
    expect(await call('GET', '/subjects/s-value/versions/5')).toMatchObject({ status: 404, body: { error_code: 40402 } })
    expect(await call('GET', '/schemas/ids/777')).toMatchObject({ status: 404, body: { error_code: 40403 } })
    const res = await SELF.fetch(`${BASE}/subjects/s-value/versions`, { method: 'POST', body: 'not json' })
    expect(res.status).toBe(400)
    expect(await (await SELF.fetch(`${BASE}/v1/topics/_schemas/partitions/0/offsets?at=latest`)).json()).toEqual(before)
  })

  it('deletes softly, then permanently, with 40404/40405/40406/40407', async () => {
    await call('POST', '/subjects/d-value/versions', { schema: user() })
    expect(await call('DELETE', '/subjects/d-value/versions/1?permanent=true')).toMatchObject({ status: 404, body: { error_code: 40407 } })
    expect(await call('DELETE', '/subjects/d-value?permanent=true')).toMatchObject({ status: 404, body: { error_code: 40405 } })
    expect(await call('DELETE', '/subjects/d-value')).toEqual({ status: 200, body: [1] })
    expect(await call('DELETE', '/subjects/d-value')).toMatchObject({ status: 404, body: { error_code: 40404 } })
    expect(await call('GET', '/subjects?deleted=true')).toMatchObject({ body: expect.arrayContaining(['d-value']) })
    expect(await call('DELETE', '/subjects/d-value?permanent=true')).toEqual({ status: 200, body: [1] })
    expect(await call('GET', '/subjects/d-value/versions?deleted=true')).toMatchObject({ status: 404, body: { error_code: 40401 } })
  })

  it('config: global and per subject', async () => {
    expect(await call('GET', '/config')).toEqual({ status: 200, body: { compatibilityLevel: 'BACKWARD' } })
    expect(await call('PUT', '/config/c-value', { compatibility: 'FULL_TRANSITIVE' })).toEqual({ status: 200, body: { compatibility: 'FULL_TRANSITIVE' } })
    expect(await call('GET', '/config/c-value')).toEqual({ status: 200, body: { compatibilityLevel: 'FULL_TRANSITIVE' } })
    expect(await call('GET', '/config/other?defaultToGlobal=true')).toEqual({ status: 200, body: { compatibilityLevel: 'BACKWARD' } })
    expect(await call('GET', '/config/other')).toMatchObject({ status: 404, body: { error_code: 40408 } })
  })
})

describe('schema registry tokens', () => {
  const TOKENS = JSON.stringify({
    writer: { topics: { orders: ['read', 'write'] } },
    subjects: { subjects: { 'shared-*': ['read', 'write'] } },
    reader: { topics: { orders: ['read'] } },
    admin: { cluster: ['admin'], topics: { '*': ['all'] }, subjects: { '*': ['all'] } },
  })
  const secured = { ...env, EDGELOG_TOKENS: TOKENS }
  const as = async (token: string | undefined, method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { 'content-type': CT }
    if (token) headers.authorization = `Bearer ${token}`
    const res = await app.fetch(new Request(`https://registry.example${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }), secured, createExecutionContext())
    return { status: res.status, body: await res.json() as any }
  }

  it('401 without a token; subject grants or the topic of <topic>-value; 403 otherwise', async () => {
    expect(await as(undefined, 'GET', '/subjects')).toMatchObject({ status: 401, body: { error_code: 40101 } })
    expect(await as('writer', 'POST', '/subjects/orders-value/versions', { schema: user() })).toMatchObject({ status: 200, body: { id: expect.any(Number) } })
    expect(await as('writer', 'PUT', '/config/orders-value', { compatibility: 'BACKWARD' })).toMatchObject({ status: 200 })
    expect(await as('writer', 'POST', '/subjects/payments-value/versions', { schema: user() })).toMatchObject({ status: 403, body: { error_code: 40301 } })
    expect(await as('subjects', 'POST', '/subjects/shared-thing/versions', { schema: user() })).toMatchObject({ status: 200 })
    expect(await as('reader', 'GET', '/subjects/orders-value/versions')).toEqual({ status: 200, body: [1] })
    expect(await as('reader', 'POST', '/subjects/orders-value/versions', { schema: '"string"' })).toMatchObject({ status: 403, body: { error_code: 40301 } })
    expect(await as('reader', 'DELETE', '/subjects/orders-value')).toMatchObject({ status: 403 })
    expect(await as('reader', 'PUT', '/config', { compatibility: 'NONE' })).toMatchObject({ status: 403 })
    expect((await as('reader', 'GET', '/subjects')).body).toEqual(['orders-value'])
    const { body: { id } } = await as('subjects', 'GET', '/subjects/shared-thing/versions/1')
    expect(await as('reader', 'GET', `/schemas/ids/${id}`)).toMatchObject({ status: 200 }) // the same schema is orders-value's too
    expect(await as('admin', 'DELETE', '/subjects/orders-value')).toEqual({ status: 200, body: [1] })
  })

  it('a topic with confluent.value.schema.validation takes only values carrying a schema id of <topic>-value', async () => {
    const call = async (method: string, path: string, body?: unknown, type = 'application/json') => {
      const res = await app.fetch(new Request(`http://127.0.0.1${path}`, { method, headers: { 'content-type': type }, body: body === undefined ? undefined : JSON.stringify(body) }), env, createExecutionContext())
      return { status: res.status, body: await res.json() as any }
    }
    const { body: { id } } = await call('POST', '/subjects/checked-value/versions', { schema: user() }, CT)
    expect((await call('POST', '/v1/topics', { name: 'checked', partitions: 1, config: { 'confluent.value.schema.validation': 'true' } })).status).toBe(201)
    // A User in Avro: the name 'hi' (length 2 as a zig-zag varint, then its bytes).
    const wire = (schemaId: number, payload = [4, 104, 105]) => btoa(String.fromCharCode(0, 0, 0, 0, schemaId, ...payload))
    expect(await call('POST', '/v1/topics/checked/records?encoding=base64', { records: [{ value: wire(id) }] })).toMatchObject({ status: 200 })
    expect(await call('POST', '/v1/topics/checked/records?encoding=base64', { records: [{ value: wire(id, [1, 2, 3]) }] })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_RECORD', message: expect.stringContaining(`does not match schema id ${id}`) } } })
    expect(await call('POST', '/v1/topics/checked/records', { records: [{ value: 'plain text' }] })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_RECORD' } } })
    expect(await call('POST', '/v1/topics/checked/records?encoding=base64', { records: [{ value: wire(id + 100) }] })).toMatchObject({ status: 400, body: { error: { code: 'INVALID_RECORD' } } })
    const { body: described } = await call('GET', '/v1/topics/checked')
    expect(described.partitions[0].highWatermark).toBe(1)
  })

  it('the registry\'s own _schemas topic takes no records through /v1 but from a cluster admin', async () => {
    const grants = JSON.stringify({ everything: { topics: { '*': ['all'] } }, admin: { cluster: ['admin'], topics: { '*': ['all'] } } })
    const produce = async (token: string) => {
      const res = await app.fetch(new Request('https://registry.example/v1/topics/_schemas/records', {
        method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ records: [{ key: '{"keytype":"NOOP","magic":0}', value: '{}' }] }),
      }), { ...env, EDGELOG_TOKENS: grants }, createExecutionContext())
      return { status: res.status, body: await res.json() as any }
    }
    expect(await produce('everything')).toMatchObject({ status: 403, body: { error: { code: 'CLUSTER_AUTHORIZATION_FAILED' } } })
    expect((await produce('admin')).status).toBeLessThan(300)
  })
})

describe('CORS on the registry root paths', () => {
  it('answers preflights (PUT /config included) and marks answers and errors for the configured origins only', async () => {
    const list = { ...env, EDGELOG_CORS_ORIGINS: 'https://a.example' }
    const fetchWith = (path: string, init: RequestInit, e = list) => app.fetch(new Request(`${BASE}${path}`, init), e, createExecutionContext())
    for (const [path, method] of [['/subjects/cors-value/versions', 'POST'], ['/config/cors-value', 'PUT'], ['/schemas/ids/1', 'GET'], ['/compatibility/subjects/cors-value/versions/latest', 'POST'], ['/config', 'PUT'], ['/subjects', 'GET']]) {
      const pre = await fetchWith(path, { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': method, 'access-control-request-headers': 'authorization,content-type' } })
      expect(pre.status, `${method} ${path}`).toBe(204)
      expect(pre.headers.get('access-control-allow-origin')).toBe('https://a.example')
      expect(pre.headers.get('access-control-allow-methods')).toContain(method)
    }
    const ok = await fetchWith('/subjects/cors-value/versions', { method: 'POST', headers: { origin: 'https://a.example', 'content-type': CT }, body: JSON.stringify({ schema: user() }) })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://a.example')
    const missing = await fetchWith('/subjects/no-such/versions', { headers: { origin: 'https://a.example' } })
    expect(missing.status).toBe(404)
    expect(missing.headers.get('access-control-allow-origin')).toBe('https://a.example')
    const other = await fetchWith('/subjects', { headers: { origin: 'https://b.example' } })
    expect(other.status).toBe(200)
    expect(other.headers.get('access-control-allow-origin')).toBeNull()
    // Without EDGELOG_CORS_ORIGINS: no CORS headers at all (the default of a deployment).
    const none = await fetchWith('/subjects', { headers: { origin: 'https://a.example' } }, { ...env, EDGELOG_CORS_ORIGINS: '' })
    expect(none.headers.get('access-control-allow-origin')).toBeNull()
  })
})
