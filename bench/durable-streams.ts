/**
 * The Durable Streams protocol, side by side in one run: edgelog's /ds/ face on `wrangler dev`
 * (workerd, SQLite-backed Durable Objects) and the reference server (@durable-streams/server,
 * file store, its own Node process). The same requests, one after another on one connection:
 * appends of 1 record and of 1,000 records per POST (100-byte records; binary: the bytes
 * concatenated, JSON: an array of 1,000 strings, flattened by the server), then a catch-up read
 * of everything (GET from -1, following Stream-Next-Offset). Prints records/s and
 * edgelog ÷ reference.
 *
 *   npx tsx bench/durable-streams.ts [singleAppends=300] [bulkAppends=100]
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, ROOT, startWranglerDev } from '../test/http/wrangler-dev.ts'

const SINGLE = Number(process.argv[2] ?? 300)
const BULK = Number(process.argv[3] ?? 100)
const PER_POST = 1000
const RECORD = 100

async function startReference(dataDir: string): Promise<{ url: string; stop: () => void }> {
  const port = await freePort()
  const code = `import { DurableStreamTestServer } from '@durable-streams/server'
const s = new DurableStreamTestServer({ port: ${port}, host: '127.0.0.1', dataDir: ${JSON.stringify(dataDir)}, compression: false })
await s.start(); console.log('ready')`
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => { if (String(d).includes('ready')) resolve() })
    child.once('exit', (c) => reject(new Error(`reference server exited ${c}`)))
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGKILL') }
}

const value = (i: number) => `${i}`.padStart(10, '0').padEnd(RECORD, 'x')
const encoder = new TextEncoder()

interface Case { name: string; type: string; bodies: Array<string | Uint8Array>; records: number }

function cases(): Case[] {
  const single = Array.from({ length: SINGLE }, (_, i) => value(i))
  const bulk = Array.from({ length: BULK }, (_, b) => Array.from({ length: PER_POST }, (_, i) => value(b * PER_POST + i)))
  return [
    { name: 'binary, 1 record per POST', type: 'application/octet-stream', bodies: single.map((v) => encoder.encode(v)), records: SINGLE },
    { name: 'JSON, 1 record per POST', type: 'application/json', bodies: single.map((v) => JSON.stringify(v)), records: SINGLE },
    { name: 'binary, 1,000 records per POST', type: 'application/octet-stream', bodies: bulk.map((vs) => encoder.encode(vs.join(''))), records: BULK * PER_POST },
    { name: 'JSON, 1,000 records per POST', type: 'application/json', bodies: bulk.map((vs) => JSON.stringify(vs)), records: BULK * PER_POST },
  ]
}

async function append(url: string, c: Case): Promise<number> {
  const put = await fetch(url, { method: 'PUT', headers: { 'content-type': c.type } })
  if (put.status !== 201) throw new Error(`PUT ${url}: ${put.status}`)
  const t0 = performance.now()
  for (const body of c.bodies) {
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': c.type }, body: body as BodyInit })
    if (r.status !== 204 && r.status !== 200) throw new Error(`POST ${url}: ${r.status} ${await r.text()}`)
  }
  return c.records / ((performance.now() - t0) / 1000)
}

async function readAll(url: string, c: Case): Promise<number> {
  const t0 = performance.now()
  let offset = '-1'
  let bytes = 0
  let items = 0
  for (;;) {
    const r = await fetch(`${url}?offset=${encodeURIComponent(offset)}`)
    const buf = new Uint8Array(await r.arrayBuffer())
    bytes += buf.byteLength
    if (c.type === 'application/json') items += (JSON.parse(new TextDecoder().decode(buf)) as unknown[]).length
    offset = r.headers.get('stream-next-offset')!
    if (r.headers.get('stream-up-to-date') === 'true') break
  }
  const seconds = (performance.now() - t0) / 1000
  const expected = c.type === 'application/json' ? items : bytes / RECORD
  if (expected !== c.records) throw new Error(`read back ${expected} records of ${c.records}`)
  return c.records / seconds
}

async function main() {
  const dirs = [mkdtempSync(join(tmpdir(), 'ds-bench-edgelog-')), mkdtempSync(join(tmpdir(), 'ds-bench-ref-'))]
  const edge = await startWranglerDev(dirs[0], { args: ['--log-level', 'warn'] })
  const ref = await startReference(dirs[1])
  const rows: string[] = []
  try {
    for (const c of cases()) {
      const id = `${c.name.replace(/[^a-z0-9]+/gi, '-')}-${Date.now()}`
      const e = await append(`${edge.url}/ds/bench/${id}`, c)
      const r = await append(`${ref.url}/bench/${id}`, c)
      rows.push(`| append: ${c.name} | ${fmt(e)} | ${fmt(r)} | ${(e / r).toFixed(2)} |`)
      if (c.records >= PER_POST) {
        const er = await readAll(`${edge.url}/ds/bench/${id}`, c)
        const rr = await readAll(`${ref.url}/bench/${id}`, c)
        rows.push(`| read (catch-up): ${c.name.split(',')[0]} | ${fmt(er)} | ${fmt(rr)} | ${(er / rr).toFixed(2)} |`)
      }
    }
  } finally {
    await edge.kill()
    ref.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  }
  console.log(`| ${SINGLE} single appends, ${BULK} × ${PER_POST}-record appends, ${RECORD}-byte records | edgelog /ds/ rec/s | reference (file store) rec/s | edgelog ÷ reference |`)
  console.log('|---|---|---|---|')
  for (const row of rows) console.log(row)
}

const fmt = (n: number) => (n >= 10_000 ? `${(n / 1000).toFixed(0)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0))

await main()
