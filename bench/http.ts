/**
 * HTTP throughput, side by side in one run: edgelog on `wrangler dev` (workerd, SQLite-backed
 * Durable Objects, acks=all) and the Durable Streams reference server (@durable-streams/server,
 * file store, its own Node process). 100-byte records in batches of 1,000, requests one after
 * another on one keep-alive connection; JSON and binary; append then read everything back (three times, the reads being short),
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
 * answers (the hop to a partition object, without its work). And a fifth, the limit for a
 * durable log: the hop to an object that stores each batch as one BLOB row in SQLite and reads
 * the rows back (bench/null/wrangler-store.jsonc) — the least storage work an append can do.
 * Every workload runs EDGELOG_BENCH_ROUNDS times (3) on every server, alternating the order;
 * medians.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
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
/** EDGELOG_BENCH_ROUNDS: rounds of every workload on every server (medians). */
const ROUNDS = Number(process.env.EDGELOG_BENCH_ROUNDS ?? 3)

/** Runs `fn` over `items`, CONCURRENCY at a time, in order of start. */
async function pool<T>(items: T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}
const value = (i: number) => `${i}`.padStart(10, '0').padEnd(RECORD, 'x')

async function startDurableStreams(dataDir: string): Promise<{ url: string; pid: number; stop: () => void }> {
  const port = await freePort()
  const code = `import { DurableStreamTestServer } from '@durable-streams/server'
const s = new DurableStreamTestServer({ port: ${port}, host: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, compression: false })
await s.start(); console.log('ready')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve() })
    child.once('exit', (c) => reject(new Error(`durable-streams server exited ${c}`)))
  })
  return { url: `http://127.0.0.1:${port}`, pid: child.pid!, stop: () => child.kill('SIGKILL') }
}

/**
 * CPU seconds (user + system) used so far by a process and its descendants (Linux /proc): what
 * a server spent on the requests, which other tenants' load on a shared machine moves far less
 * than wall time.
 */
function treeCpuSeconds(root: number): number {
  const pids = [root]
  for (let i = 0; i < pids.length; i++) {
    try {
      for (const c of execFileSync('pgrep', ['-P', String(pids[i])]).toString().trim().split('\n')) if (c) pids.push(Number(c))
    } catch { /* no children */ }
  }
  let ticks = 0
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { /* gone */ }
  }
  return ticks / 100
}

type Timing = { records: number; seconds: number; perSecond: number; cpuSeconds?: number }

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

type Server = { name: string; url: string; kind: 'edgelog' | 'ds'; pid: number }
type Workload = { name: string; run: (server: Server, round: number) => Promise<Timing> }

/** Reads run over the whole topic this many times per timing: long enough for the CPU figures' 10 ms ticks. */
const READ_PASSES = 3
async function passes(read: () => Promise<number>): Promise<number> {
  let records = 0
  for (let i = 0; i < READ_PASSES; i++) records += await read()
  return records
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'edgelog-bench-http-'))
  const vars = { TOTAL: String(REQUESTS * PER_REQUEST) }
  const dev = await startWranglerDev(join(tmp, 'wrangler'), { args: DEV_ARGS })
  const nul = await startWranglerDev(join(tmp, 'null'), { args: [...DEV_ARGS, '-c', 'bench/null/wrangler.jsonc'], vars })
  const nulObject = await startWranglerDev(join(tmp, 'null-object'), { args: [...DEV_ARGS, '-c', 'bench/null/wrangler-object.jsonc'], vars })
  const store = await startWranglerDev(join(tmp, 'store'), { args: [...DEV_ARGS, '-c', 'bench/null/wrangler-store.jsonc'], vars })
  const ds = await startDurableStreams(join(tmp, 'ds'))
  const servers: Server[] = [
    { name: 'edgelog', url: dev.url, kind: 'edgelog', pid: dev.child.pid! },
    { name: 'durable-streams', url: ds.url, kind: 'ds', pid: ds.pid },
    { name: 'null Worker', url: nul.url, kind: 'edgelog', pid: nul.child.pid! },
    { name: '+ null object', url: nulObject.url, kind: 'edgelog', pid: nulObject.child.pid! },
    { name: '+ store object', url: store.url, kind: 'edgelog', pid: store.child.pid! },
  ]
  try {
    // Warm every server (JIT, object start-up) on a separate stream/topic.
    await ok(await fetch(`${ds.url}/warm`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' } }))
    for (const s of servers) {
      if (s.kind === 'ds') continue
      await ok(await fetch(`${s.url}/v1/topics/warm/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ records: [{ value: 'w' }] }) }))
    }
    const topic = (kind: string, round: number) => `bench-${kind}-${round}`
    const workloads: Workload[] = [
      { name: `append, binary${BATCHES_PER_REQUEST > 1 ? ` (${BATCHES_PER_REQUEST}k records/request)` : ''}`, run: async (s, r) => {
        if (s.name === 'edgelog') {
          for (const kind of ['bin', 'json']) {
            await ok(await fetch(`${s.url}/v1/topics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: topic(kind, r), config: { 'max.message.bytes': '2000000' } }) }))
          }
        }
        return s.kind === 'ds' ? timed(() => dsAppend(s.url, `/${topic('bin', r)}`, false)) : timed(() => edgelogAppendBinary(s.url, topic('bin', r)))
      } },
      { name: 'append, JSON', run: (s, r) => s.kind === 'ds' ? timed(() => dsAppend(s.url, `/${topic('json', r)}`, true)) : timed(() => edgelogAppendJson(s.url, topic('json', r))) },
      { name: `read, binary (${READ_PASSES} passes)`, run: (s, r) => timed(() => () => passes(() => s.kind === 'ds' ? dsRead(s.url, `/${topic('bin', r)}`, false) : edgelogReadBinary(s.url, topic('bin', r)))) },
      { name: `read, JSON (${READ_PASSES} passes)`, run: (s, r) => timed(() => () => passes(() => s.kind === 'ds' ? dsRead(s.url, `/${topic('json', r)}`, true) : edgelogReadJson(s.url, topic('json', r)))) },
    ]
    // Rounds: each workload on every server, in an order that alternates between rounds.
    const rates = workloads.map(() => servers.map(() => [] as number[]))
    const cpus = workloads.map(() => servers.map(() => [] as number[]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const [w, workload] of workloads.entries()) {
        const order = servers.map((_, i) => i)
        if (round % 2 === 1) order.reverse()
        for (const i of order) {
          const cpu0 = treeCpuSeconds(servers[i].pid)
          const t = await workload.run(servers[i], round)
          if (t.records !== REQUESTS * PER_REQUEST * (workload.name.startsWith('read') ? READ_PASSES : 1)) throw new Error(`${servers[i].name} ${workload.name}: ${t.records} records`)
          rates[w][i].push(t.perSecond)
          cpus[w][i].push((treeCpuSeconds(servers[i].pid) - cpu0) * 1e6 / t.records)
        }
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      await verifyEdgelog(dev.url, topic('bin', round))
      await verifyEdgelog(dev.url, topic('json', round))
    }

    const k = (n: number) => `${(n / 1000).toFixed(0)}k`
    console.log(`\n${TOTAL.toLocaleString('en')} records of ${RECORD} bytes, batches of ${PER_REQUEST}, ${BATCHES_PER_REQUEST} batch(es) per binary request, appends ${CONCURRENCY} in flight (reads sequential); medians of ${ROUNDS} rounds, servers in alternating order`)
    console.log(`edgelog: wrangler dev ${DEV_ARGS.join(' ')} (workerd, SQLite Durable Objects, acks=${ACKS}); durable-streams: @durable-streams/server file store; every edgelog record read back and checked`)
    console.log('null Worker: reads each body and answers; + null object: hands it to a Durable Object that answers; + store object: to one that stores it as BLOB rows (reads: the rows)\n')
    console.log(`| workload | ${servers.map((s) => `${s.name} rec/s`).join(' | ')} | edgelog / ${servers.slice(1).map((s) => s.name).join(' | edgelog / ')} |`)
    console.log(`|---|${servers.map(() => '---|').join('')}${servers.slice(1).map(() => '---|').join('')}`)
    for (const [w, workload] of workloads.entries()) {
      const m = rates[w].map(median)
      console.log(`| ${workload.name} | ${m.map(k).join(' | ')} | ${m.slice(1).map((x) => `${(m[0] / x).toFixed(2)}x`).join(' | ')} |`)
    }
    // CPU per record of each server's processes (workerd and wrangler's; the Node process of
    // durable-streams): the same comparison by the work done, less moved by others' load.
    console.log(`\nCPU µs per record (the server's process tree, user + system; medians)\n`)
    console.log(`| workload | ${servers.map((s) => s.name).join(' | ')} | edgelog / + store object (by CPU) |`)
    console.log(`|---|${servers.map(() => '---|').join('')}---|`)
    for (const [w, workload] of workloads.entries()) {
      const m = cpus[w].map(median)
      console.log(`| ${workload.name} | ${m.map((x) => x.toFixed(2)).join(' | ')} | ${(m[4] / m[0]).toFixed(2)}x |`)
    }
  } finally {
    ds.stop()
    await store.kill()
    await nulObject.kill()
    await nul.kill()
    await dev.kill()
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
