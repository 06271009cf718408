/**
 * Tiered storage (issue 19, docs/tiered-storage.md): the same sealed range read from R2 and
 * from the partition object's SQLite, on one `wrangler dev` (local R2 is miniflare's, on disk).
 * Two topics get the same records (100 B values, 1,000 per request, 256 KiB segments); one has
 * remote.storage.enable with local.retention.bytes 0, and its sealed segments are moved by one
 * maintenance call. The Workers Cache API is off (EDGELOG_CACHE=off) so that every read reaches
 * the object: R2's ranged GETs against SQLite rows. R readers re-read the sealed range in
 * 64 KiB binary fetches; records/s, MB/s, and the ratio.
 *   npx tsx bench/tiered.ts [--batches=20] [--readers=4] [--rounds=5]
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startWranglerDev, type WranglerDev } from '../test/http/wrangler-dev.ts'

const arg = (name: string, fallback: number) => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`))
  return hit ? Number(hit.split('=')[1]) : fallback
}
const BATCHES = arg('batches', 20)
const READERS = arg('readers', 4)
const ROUNDS = arg('rounds', 5)

async function call(dev: WranglerDev, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(`${dev.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })
  const json = await res.json()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

async function fill(dev: WranglerDev, topic: string, config: Record<string, string>): Promise<number> {
  await call(dev, 'POST', '/v1/topics', { name: topic, partitions: 1, config: { 'segment.bytes': String(256 * 1024), ...config } })
  const value = 'x'.repeat(100)
  for (let i = 0; i < BATCHES; i++) {
    await call(dev, 'POST', `/v1/topics/${topic}/partitions/0/records`, { records: Array.from({ length: 1000 }, (_, k) => ({ key: `k${k}`, value })) })
  }
  await call(dev, 'POST', `/v1/topics/${topic}/maintenance`)
  const state = await call(dev, 'GET', `/v1/topics/${topic}`)
  return state.partitions[0].segments.at(-2).endOffset as number
}

async function readRange(dev: WranglerDev, topic: string, end: number): Promise<number> {
  let offset = 0
  let bytes = 0
  while (offset < end) {
    const res = await fetch(`${dev.url}/v1/topics/${topic}/partitions/0/records?offset=${offset}&maxBytes=65536`, { headers: { accept: 'application/vnd.kafka.record-batch' } })
    if (!res.ok) throw new Error(`read ${topic}@${offset}: ${res.status}`)
    bytes += (await res.arrayBuffer()).byteLength
    offset = Number(res.headers.get('edgelog-next-offset'))
  }
  return bytes
}

async function measure(dev: WranglerDev, topic: string, end: number) {
  await readRange(dev, topic, end) // warm: the object's pages, R2's files
  const t0 = performance.now()
  let bytes = 0
  await Promise.all(Array.from({ length: READERS }, async () => { for (let r = 0; r < ROUNDS; r++) bytes += await readRange(dev, topic, end) }))
  const seconds = (performance.now() - t0) / 1000
  return { recordsPerS: (end * READERS * ROUNDS) / seconds, mbPerS: bytes / seconds / 1e6 }
}

const dir = mkdtempSync(join(tmpdir(), 'edgelog-bench-tiered-'))
const dev = await startWranglerDev(dir, { vars: { EDGELOG_CACHE: 'off' } })
try {
  const stamp = Date.now()
  const localEnd = await fill(dev, `local-${stamp}`, {})
  const remoteEnd = await fill(dev, `remote-${stamp}`, { 'remote.storage.enable': 'true', 'local.retention.bytes': '0' })
  const tiers = await call(dev, 'GET', `/v1/topics/remote-${stamp}/partitions/0/tiers`)
  if (tiers.remote.segments.length === 0 || remoteEnd !== localEnd) throw new Error(`nothing moved to R2: ${JSON.stringify(tiers)}`)
  // Alternate to spread the machine's noise over both.
  const sqlite = [await measure(dev, `local-${stamp}`, localEnd)]
  const r2 = [await measure(dev, `remote-${stamp}`, remoteEnd)]
  sqlite.push(await measure(dev, `local-${stamp}`, localEnd))
  r2.push(await measure(dev, `remote-${stamp}`, remoteEnd))
  const f = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
  console.log(`\nSealed range of ${f(localEnd)} records (100 B values, ${tiers.remote.segments.length} files in R2, ${f(tiers.remote.bytes)} bytes), ${READERS} readers x ${ROUNDS} rounds, 64 KiB binary fetches, cache off`)
  console.log('| | records/s | MB/s |')
  console.log('|---|---|---|')
  console.log(`| from SQLite (local tier) | ${sqlite.map((s) => f(s.recordsPerS)).join('; ')} | ${sqlite.map((s) => f(s.mbPerS, 1)).join('; ')} |`)
  console.log(`| from R2 (remote tier) | ${r2.map((s) => f(s.recordsPerS)).join('; ')} | ${r2.map((s) => f(s.mbPerS, 1)).join('; ')} |`)
  console.log(`| R2 / SQLite | ${r2.map((s, i) => f(s.recordsPerS / sqlite[i].recordsPerS, 2) + 'x').join('; ')} | |`)
} finally {
  await dev.kill()
  rmSync(dir, { recursive: true, force: true })
}
