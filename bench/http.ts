/**
 * HTTP throughput, side by side in one run: edgelog on `wrangler dev` (workerd, SQLite-backed
 * Durable Objects, acks=all) and the Durable Streams reference server (@durable-streams/server,
 * file store, its own Node process). 100-byte records, 1,000 per request, one connection,
 * requests one after another; JSON and binary; append then read everything back.
 *
 *   npx tsx bench/http.ts [totalRecords=100000] [concurrency=1]
 *
 * With concurrency > 1, that many appends (or reads of disjoint ranges for edgelog) are in
 * flight at once, on as many connections.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeBatch, readBatchHeader, splitBatches } from '../core/codec/record-batch.ts'
import { freePort, ROOT, startWranglerDev } from '../test/http/wrangler-dev.ts'

const TOTAL = Number(process.argv[2] ?? 100_000)
const PER_REQUEST = 1000
const RECORD = 100
const REQUESTS = Math.ceil(TOTAL / PER_REQUEST)
const CONCURRENCY = Number(process.argv[3] ?? 1)

/** Runs `fn` over `items`, CONCURRENCY at a time, in order of start. */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}
const value = (i: number) => `${i}`.padStart(10, '0').padEnd(RECORD, 'x')

async function startDurableStreams(dataDir: string): Promise<{ url: string; stop: () => void }> {
  const port = await freePort()
  const code = `import { DurableStreamTestServer } from '@durable-streams/server'
const s = new DurableStreamTestServer({ port: ${port}, host: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, compression: false })
await s.start(); console.log('ready')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve() })
    child.once('exit', (c) => reject(new Error(`durable-streams server exited ${c}`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

async function timed(fn: () => Promise<number>): Promise<{ records: number; seconds: number; perSecond: number }> {
  const t0 = performance.now()
  const records = await fn()
  const seconds = (performance.now() - t0) / 1000
  return { records, seconds, perSecond: records / seconds }
}

async function ok(res: Response): Promise<Response> {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`)
  return res
}

// ---------------------------------------------------------------- edgelog

async function edgelogAppendBinary(url: string, topic: string): Promise<number> {
  const bodies = Array.from({ length: REQUESTS }, (_, r) => encodeBatch(Array.from({ length: PER_REQUEST }, (_, i) => ({
    key: null, value: new TextEncoder().encode(value(r * PER_REQUEST + i)), timestamp: Date.now(),
  }))))
  const t0 = performance.now()
  await pool(bodies, async (body) => {
    await (await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?acks=all`, { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch' }, body: body as Uint8Array<ArrayBuffer> }))).arrayBuffer()
  })
  appendTimes.set(topic, performance.now() - t0)
  return REQUESTS * PER_REQUEST
}

async function edgelogAppendJson(url: string, topic: string): Promise<number> {
  const bodies = Array.from({ length: REQUESTS }, (_, r) => JSON.stringify({ records: Array.from({ length: PER_REQUEST }, (_, i) => ({ value: value(r * PER_REQUEST + i) })) }))
  await pool(bodies, async (body) => {
    await (await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?acks=all`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }))).arrayBuffer()
  })
  return REQUESTS * PER_REQUEST
}

async function edgelogReadBinary(url: string, topic: string): Promise<number> {
  let offset = 0
  let records = 0
  for (;;) {
    const res = await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=1048576`, { headers: { accept: 'application/vnd.kafka.record-batch' } }))
    const bytes = new Uint8Array(await res.arrayBuffer())
    for (const b of splitBatches(bytes)) records += readBatchHeader(b).recordCount
    offset = Number(res.headers.get('edgelog-next-offset'))
    if (offset >= Number(res.headers.get('edgelog-high-watermark'))) return records
  }
}

async function edgelogReadJson(url: string, topic: string): Promise<number> {
  let offset = 0
  let records = 0
  for (;;) {
    const res = await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=1048576`))
    const body = await res.json() as { records: unknown[]; nextOffset: number; highWatermark: number }
    records += body.records.length
    offset = body.nextOffset
    if (offset >= body.highWatermark) return records
  }
}

// ---------------------------------------------------------------- durable streams

async function dsAppend(url: string, path: string, json: boolean): Promise<number> {
  const type = json ? 'application/json' : 'application/octet-stream'
  await ok(await fetch(`${url}${path}`, { method: 'PUT', headers: { 'content-type': type } }))
  const bodies = Array.from({ length: REQUESTS }, (_, r) => {
    const values = Array.from({ length: PER_REQUEST }, (_, i) => value(r * PER_REQUEST + i))
    return json ? JSON.stringify(values) : new TextEncoder().encode(values.join(''))
  })
  await pool(bodies as Array<string | Uint8Array>, async (body) => {
    await (await ok(await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: body as BodyInit }))).arrayBuffer()
  })
  return REQUESTS * PER_REQUEST
}

async function dsRead(url: string, path: string, json: boolean): Promise<number> {
  let offset = '-1'
  let records = 0
  for (;;) {
    const res = await ok(await fetch(`${url}${path}?offset=${encodeURIComponent(offset)}`))
    if (json) records += ((await res.json()) as unknown[]).length
    else records += (await res.arrayBuffer()).byteLength / RECORD
    offset = res.headers.get('stream-next-offset') ?? offset
    if (res.headers.get('stream-up-to-date') === 'true') return records
  }
}

const appendTimes = new Map<string, number>()

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'edgelog-bench-http-'))
  const dev = await startWranglerDev(join(tmp, 'wrangler'))
  const ds = await startDurableStreams(join(tmp, 'ds'))
  try {
    for (const t of ['bench-bin', 'bench-json']) {
      await ok(await fetch(`${dev.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: t, config: { 'max.message.bytes': '2000000' } }) }))
    }
    // Warm both servers (JIT, object start-up) on a separate stream/topic.
    await ok(await fetch(`${dev.url}/v1/topics/warm/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'w' }] }) }))
    await ok(await fetch(`${ds.url}/warm`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }))

    const rows: Array<[string, { perSecond: number; seconds: number; records: number }, { perSecond: number; seconds: number; records: number }]> = []
    rows.push(['append, binary', await timed(() => edgelogAppendBinary(dev.url, 'bench-bin')), await timed(() => dsAppend(ds.url, '/bench-bin', false))])
    rows.push(['append, JSON', await timed(() => edgelogAppendJson(dev.url, 'bench-json')), await timed(() => dsAppend(ds.url, '/bench-json', true))])
    rows.push(['read, binary', await timed(() => edgelogReadBinary(dev.url, 'bench-bin')), await timed(() => dsRead(ds.url, '/bench-bin', false))])
    rows.push(['read, JSON', await timed(() => edgelogReadJson(dev.url, 'bench-json')), await timed(() => dsRead(ds.url, '/bench-json', true))])

    const k = (n: number) => `${(n / 1000).toFixed(0)}k`
    console.log(`\n${TOTAL.toLocaleString('en')} records of ${RECORD} bytes, ${PER_REQUEST} per request, appends ${CONCURRENCY} in flight (reads sequential)`)
    console.log('edgelog: wrangler dev 4.86.0 (workerd, SQLite Durable Objects, acks=all); durable-streams: @durable-streams/server file store\n')
    console.log('| workload | edgelog rec/s | durable-streams rec/s | ratio |')
    console.log('|---|---|---|---|')
    for (const [name, e, d] of rows) {
      if (e.records !== d.records) console.log(`(record counts differ: ${e.records} vs ${d.records})`)
      console.log(`| ${name} | ${k(e.perSecond)} | ${k(d.perSecond)} | ${(e.perSecond / d.perSecond).toFixed(2)}x |`)
    }
    const pure = appendTimes.get('bench-bin')
    if (pure) console.log(`\nbinary append without client-side encoding time: ${k(TOTAL / (pure / 1000))} rec/s`)
  } finally {
    ds.stop()
    await dev.kill()
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
