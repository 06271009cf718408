/**
 * HTTP throughput, side by side in one run: edgelog on `wrangler dev` (workerd, SQLite-backed
 * Durable Objects, acks=all) and the Durable Streams reference server (@durable-streams/server,
 * file store, its own Node process). 100-byte records in batches of 1,000, requests one after
 * another on one keep-alive connection; JSON and binary; append then read everything back,
 * then check that every record came back once, intact.
 *
 *   npx tsx bench/http.ts [totalRecords=100000] [concurrency=1] [batchesPerRequest=1]
 *
 * With concurrency > 1, that many appends are in flight at once (on as many connections).
 * With batchesPerRequest > 1, one binary edgelog POST carries that many 1,000-record batches
 * (concatenated, each validated and stored as its own batch) and one Durable Streams POST
 * carries as many records; JSON appends stay at 1,000 records per request. Request bodies are
 * built before the clock starts, for both servers. wrangler dev runs with `--log-level warn`
 * (set WRANGLER_DEV_ARGS to change it), which drops its per-request log line.
 *
 * A third column: the same requests to a null Worker on its own `wrangler dev`, with the same
 * static-assets set-up (bench/null/): it reads each body and answers in edgelog's shapes,
 * storing nothing — wrangler dev's own cost per request, which edgelog cannot remove. And a
 * fourth: the same null Worker handing each request's body to a Durable Object that only
 * answers (the hop to a partition object, without its work).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decodeBatch, encodeBatch, readBatchHeader, splitBatches, validateBatch } from '../core/codec/record-batch.ts'
import { freePort, ROOT, startWranglerDev } from '../test/http/wrangler-dev.ts'

const TOTAL = Number(process.argv[2] ?? 100_000)
const PER_REQUEST = 1000
const RECORD = 100
const REQUESTS = Math.ceil(TOTAL / PER_REQUEST)
const CONCURRENCY = Number(process.argv[3] ?? 1)
const BATCHES_PER_REQUEST = Number(process.argv[4] ?? 1)
const DEV_ARGS = (process.env.WRANGLER_DEV_ARGS ?? '--log-level warn').split(' ').filter(Boolean)
/** EDGELOG_ACKS=1 (or 0) to measure without acks=all's storage.sync() per request. */
const ACKS = process.env.EDGELOG_ACKS ?? 'all'

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

type Timing = { records: number; seconds: number; perSecond: number }

/** Times `run` (what `prepare` returns: the request bodies are built before the clock starts). */
async function timed(prepare: () => Promise<() => Promise<number>> | (() => Promise<number>)): Promise<Timing> {
  const run = await prepare()
  const t0 = performance.now()
  const records = await run()
  const seconds = (performance.now() - t0) / 1000
  return { records, seconds, perSecond: records / seconds }
}

const encoder = new TextEncoder()
const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) { out.set(p, at); at += p.byteLength }
  return out
}

async function ok(res: Response): Promise<Response> {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`)
  return res
}

// ---------------------------------------------------------------- edgelog

function edgelogAppendBinary(url: string, topic: string): () => Promise<number> {
  const batches = Array.from({ length: REQUESTS }, (_, r) => encodeBatch(Array.from({ length: PER_REQUEST }, (_, i) => ({
    key: null, value: encoder.encode(value(r * PER_REQUEST + i)), timestamp: Date.now(),
  }))))
  const bodies: Uint8Array[] = []
  for (let b = 0; b < batches.length; b += BATCHES_PER_REQUEST) bodies.push(concat(batches.slice(b, b + BATCHES_PER_REQUEST)))
  return async () => {
    await pool(bodies, async (body) => {
      const res = await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?acks=${ACKS}`, { method: 'POST', headers: { 'content-type': 'application/vnd.kafka.record-batch' }, body: body as Uint8Array<ArrayBuffer> }))
      const answer = await res.json() as { batches: Array<{ baseOffset?: number }> }
      if (answer.batches.some((b) => b.baseOffset === undefined)) throw new Error(`a batch was refused: ${JSON.stringify(answer)}`)
    })
    return REQUESTS * PER_REQUEST
  }
}

function edgelogAppendJson(url: string, topic: string): () => Promise<number> {
  const bodies = Array.from({ length: REQUESTS }, (_, r) => JSON.stringify({ records: Array.from({ length: PER_REQUEST }, (_, i) => ({ value: value(r * PER_REQUEST + i) })) }))
  return async () => {
    await pool(bodies, async (body) => {
      await (await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?acks=${ACKS}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body }))).arrayBuffer()
    })
    return REQUESTS * PER_REQUEST
  }
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

async function dsAppend(url: string, path: string, json: boolean): Promise<() => Promise<number>> {
  const type = json ? 'application/json' : 'application/octet-stream'
  await ok(await fetch(`${url}${path}`, { method: 'PUT', headers: { 'content-type': type } }))
  const perPost = json ? PER_REQUEST : PER_REQUEST * BATCHES_PER_REQUEST
  const bodies = Array.from({ length: Math.ceil(TOTAL / perPost) }, (_, r) => {
    const values = Array.from({ length: perPost }, (_, i) => value(r * perPost + i))
    return json ? JSON.stringify(values) : encoder.encode(values.join(''))
  })
  return async () => {
    await pool(bodies as Array<string | Uint8Array>, async (body) => {
      await (await ok(await fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': type }, body: body as BodyInit }))).arrayBuffer()
    })
    return bodies.length * perPost
  }
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

/** Reads the whole partition back (outside the clock) and checks every record is there once, intact (CRC, value). */
async function verifyEdgelog(url: string, topic: string): Promise<void> {
  const seen = new Uint8Array(TOTAL)
  let offset = 0
  for (;;) {
    const res = await ok(await fetch(`${url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=8388608`, { headers: { accept: 'application/vnd.kafka.record-batch' } }))
    for (const b of splitBatches(new Uint8Array(await res.arrayBuffer()))) {
      await validateBatch(b)
      for (const r of (await decodeBatch(b)).records) {
        const text = new TextDecoder().decode(r.value!)
        const i = Number(text.slice(0, 10))
        if (text !== value(i) || seen[i]++) throw new Error(`${topic}: record at offset ${r.offset} is wrong or repeated: ${text.slice(0, 20)}…`)
      }
    }
    offset = Number(res.headers.get('edgelog-next-offset'))
    if (offset >= Number(res.headers.get('edgelog-high-watermark'))) break
  }
  const missing = seen.indexOf(0)
  if (missing >= 0) throw new Error(`${topic}: record ${missing} is missing`)
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'edgelog-bench-http-'))
  const dev = await startWranglerDev(join(tmp, 'wrangler'), { args: DEV_ARGS })
  const nul = await startWranglerDev(join(tmp, 'null'), { args: [...DEV_ARGS, '-c', 'bench/null/wrangler.jsonc'], vars: { TOTAL: String(REQUESTS * PER_REQUEST) } })
  const nulObject = await startWranglerDev(join(tmp, 'null-object'), { args: [...DEV_ARGS, '-c', 'bench/null/wrangler-object.jsonc'], vars: { TOTAL: String(REQUESTS * PER_REQUEST) } })
  const ds = await startDurableStreams(join(tmp, 'ds'))
  try {
    for (const t of ['bench-bin', 'bench-json']) {
      await ok(await fetch(`${dev.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: t, config: { 'max.message.bytes': '2000000' } }) }))
    }
    // Warm both servers (JIT, object start-up) on a separate stream/topic.
    await ok(await fetch(`${dev.url}/v1/topics/warm/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'w' }] }) }))
    await ok(await fetch(`${ds.url}/warm`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }))

    for (const u of [nul.url, nulObject.url]) await ok(await fetch(`${u}/v1/topics/warm/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'w' }] }) }))

    const rows: Array<[string, Timing, Timing, Timing, Timing]> = []
    rows.push([`append, binary${BATCHES_PER_REQUEST > 1 ? ` (${BATCHES_PER_REQUEST}k records/request)` : ''}`, await timed(() => edgelogAppendBinary(dev.url, 'bench-bin')), await timed(() => dsAppend(ds.url, '/bench-bin', false)), await timed(() => edgelogAppendBinary(nul.url, 'bench-bin')), await timed(() => edgelogAppendBinary(nulObject.url, 'bench-bin'))])
    rows.push(['append, JSON', await timed(() => edgelogAppendJson(dev.url, 'bench-json')), await timed(() => dsAppend(ds.url, '/bench-json', true)), await timed(() => edgelogAppendJson(nul.url, 'bench-json')), await timed(() => edgelogAppendJson(nulObject.url, 'bench-json'))])
    rows.push(['read, binary', await timed(() => () => edgelogReadBinary(dev.url, 'bench-bin')), await timed(() => () => dsRead(ds.url, '/bench-bin', false)), await timed(() => () => edgelogReadBinary(nul.url, 'bench-bin')), await timed(() => () => edgelogReadBinary(nulObject.url, 'bench-bin'))])
    rows.push(['read, JSON', await timed(() => () => edgelogReadJson(dev.url, 'bench-json')), await timed(() => () => dsRead(ds.url, '/bench-json', true)), await timed(() => () => edgelogReadJson(nul.url, 'bench-json')), await timed(() => () => edgelogReadJson(nulObject.url, 'bench-json'))])
    await verifyEdgelog(dev.url, 'bench-bin')
    await verifyEdgelog(dev.url, 'bench-json')

    const k = (n: number) => `${(n / 1000).toFixed(0)}k`
    console.log(`\n${TOTAL.toLocaleString('en')} records of ${RECORD} bytes, batches of ${PER_REQUEST}, ${BATCHES_PER_REQUEST} batch(es) per binary request, appends ${CONCURRENCY} in flight (reads sequential)`)
    console.log(`edgelog: wrangler dev ${DEV_ARGS.join(' ')} (workerd, SQLite Durable Objects, acks=${ACKS}); durable-streams: @durable-streams/server file store; every edgelog record read back and checked\n`)
    console.log('| workload | edgelog rec/s | durable-streams rec/s | edgelog / durable-streams | null Worker rec/s | edgelog / null Worker | null Worker + null object rec/s | edgelog / that |')
    console.log('|---|---|---|---|---|---|---|---|')
    for (const [name, e, d, n, o] of rows) {
      if (e.records !== d.records || e.records !== n.records || e.records !== o.records) console.log(`(record counts differ: ${e.records} vs ${d.records} vs ${n.records} vs ${o.records})`)
      console.log(`| ${name} | ${k(e.perSecond)} | ${k(d.perSecond)} | ${(e.perSecond / d.perSecond).toFixed(2)}x | ${k(n.perSecond)} | ${(e.perSecond / n.perSecond).toFixed(2)}x | ${k(o.perSecond)} | ${(e.perSecond / o.perSecond).toFixed(2)}x |`)
    }
  } finally {
    ds.stop()
    await nulObject.kill()
    await nul.kill()
    await dev.kill()
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
