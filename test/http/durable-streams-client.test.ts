/**
 * `@durable-streams/client`, unchanged, against the Worker's /ds/ face (`wrangler dev` with
 * tokens): append (plain and idempotent producer), read, resume from an offset, live tail by
 * long-poll and SSE. The same records are edgelog's: readable and writable through /v1 and the
 * KafkaJS-shaped client, guarded by the same tokens.
 */
import { describe, expect, it } from 'vitest'
import { DurableStream, IdempotentProducer, stream } from '@durable-streams/client'
import { connect } from '../../adapters/http/index.ts'
import { useWranglerDev } from './wrangler-suite.ts'

const ADMIN = 'ds-admin-token'
const READER = 'ds-reader-token'
const TOKENS = {
  [ADMIN]: { topics: { '*': ['all'] }, groups: { '*': ['all'] }, cluster: ['admin'] },
  [READER]: { topics: { 'ds.chat.*': ['read'] } },
}
const auth = (token: string) => ({ Authorization: `Bearer ${token}` })

const dev = useWranglerDev('edgelog-ds-client-', { vars: { EDGELOG_TOKENS: JSON.stringify(TOKENS), EDGELOG_DS_LONG_POLL_MS: '2000' } })

describe('@durable-streams/client against /ds/', () => {
  it('appends, reads, resumes from an offset, and tails live (long-poll and SSE)', async () => {
    const url = `${dev.url}/ds/chat/room-${Date.now()}`
    const handle = await DurableStream.create({ url, contentType: 'application/json', headers: auth(ADMIN) })
    await handle.append(JSON.stringify({ n: 1 }))
    const producer = new IdempotentProducer(handle, 'writer-1', { autoClaim: true })
    producer.append(JSON.stringify({ n: 2 }))
    producer.append(JSON.stringify({ n: 3 }))
    await producer.flush()
    await producer.detach()

    const first = await handle.stream<{ n: number }>({ live: false })
    expect(await first.json()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    const saved = first.offset

    await handle.append(JSON.stringify({ n: 4 }))
    const resumed = await stream<{ n: number }>({ url, headers: auth(ADMIN), offset: saved, live: false })
    expect(await resumed.json()).toEqual([{ n: 4 }])

    for (const live of ['long-poll', 'sse'] as const) {
      const meta = await handle.head()
      const offset = meta.exists ? meta.offset : undefined
      const tail = await stream<{ n: number }>({ url, headers: auth(READER), offset, live })
      const got = new Promise<unknown[]>((resolve) => {
        const items: unknown[] = []
        const stop = tail.subscribeJson(async (batch) => {
          items.push(...batch.items)
          if (items.length > 0) { stop(); tail.cancel(); resolve(items) }
        })
      })
      await new Promise((r) => setTimeout(r, 300))
      await handle.append(JSON.stringify({ n: live }))
      expect(await got).toEqual([{ n: live }])
    }
  }, 30_000)

  it('is an edgelog topic partition: /v1 and the KafkaJS-shaped client see and write the same records', async () => {
    const path = `chat/bytes-${Date.now()}`
    const url = `${dev.url}/ds/${path}`
    const handle = await DurableStream.create({ url, contentType: 'text/plain', headers: auth(ADMIN) })
    await handle.append('hello ')
    const head = await fetch(url, { method: 'HEAD', headers: auth(ADMIN) })
    const topic = head.headers.get('edgelog-topic')!
    expect(topic).toBe(`ds.chat.bytes-${path.split('-')[1]}`)

    // Written through /v1, read through Durable Streams.
    const produced = await fetch(`${dev.url}/v1/topics/${topic}/partitions/0/records`, {
      method: 'POST', headers: { ...auth(ADMIN), 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'from v1' }] }),
    })
    expect(produced.status).toBe(200)
    expect(await (await handle.stream({ live: false })).text()).toBe('hello from v1')

    // Read through the KafkaJS-shaped client: the same offsets (DS offset tokens are edgelog offsets).
    const log = connect({ url: dev.url, token: ADMIN })
    const [offsets] = await log.admin().fetchTopicOffsets(topic)
    expect(offsets.high).toBe('2')
    const meta = await handle.head()
    expect(meta.exists && meta.offset).toBe('0000000000000002')
  }, 30_000)

  it('takes the same tokens: none is 401, a read-only token cannot append', async () => {
    const url = `${dev.url}/ds/chat/guarded-${Date.now()}`
    await DurableStream.create({ url, contentType: 'text/plain', headers: auth(ADMIN) })
    expect((await fetch(url)).status).toBe(401)
    expect((await fetch(url, { headers: auth(READER) })).status).toBe(200)
    const post = await fetch(url, { method: 'POST', headers: { ...auth(READER), 'content-type': 'text/plain' }, body: 'x' })
    expect(post.status).toBe(403)
    const other = await fetch(`${dev.url}/ds/private/x`, { method: 'PUT', headers: auth(READER) })
    expect(other.status).toBe(403)
  })
})
