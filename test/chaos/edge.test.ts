/**
 * Issue 13, the edge under crashes: idempotent producers over HTTP and a two-member consumer
 * group work continuously while `wrangler dev` is killed with SIGKILL at random moments and
 * started again on the same persistence dir. Afterwards the log is read back and checked:
 * every acknowledged record at its acknowledged offset, once; order kept per producer and
 * partition; a rejected send stored at most once; the group reaches every stored record within
 * a deadline after the last restart; committed offsets never ahead of what was handled.
 *
 * EDGELOG_CHAOS=short: one run, 3 kills. Full: 3 runs, 4 kills each. EDGELOG_CHAOS_SEED=n
 * replays the random choices (the seed is printed).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect, HttpBroker } from '../../adapters/http/index.ts'
import { report, scaled } from './scale.ts'
import {
  check, EdgeServer, GroupWorkload, newHandled, ProducerWorkload, readPartition, resumeTimes, rng, sleep, Tally, withRetries,
  type CommitSample, type Findings, type ProducerSpec, type StoredRecord,
} from './edge-workload.ts'

const RUNS = scaled(1, 3)
const KILLS = scaled(3, 4)
/**
 * Time between a restart and the next kill, and how long the server stays down. The first kill
 * may come while the group is still forming (its second member joins about 3 s in).
 */
const FIRST_GAP_MS = [1_000, 9_000]
const GAP_MS = scaled([4_000, 9_000], [4_000, 12_000])
const DOWN_MS = [200, 3_000]
/** Production goes on this long after the last restart. */
const TAIL_MS = scaled(4_000, 8_000)
/** The group must have handled every stored record this long after the last restart. */
const DEADLINE_MS = 60_000
const PARTITIONS = 4
const RECORDS_PER_SEND = 50
/** Sequential, 2 and 3 sends at a time; retries from patient to none (a send failing at once has an unknown outcome). */
const PRODUCERS: ProducerSpec[] = [
  { index: 0, concurrency: 1, retries: 5 },
  { index: 1, concurrency: 2, retries: 2 },
  { index: 2, concurrency: 3, retries: 0 },
]

const seed = Number(process.env.EDGELOG_CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31))
const dirs: string[] = []
const servers: EdgeServer[] = []
/** What stops a run's clients if it ends early (a failure): loops end, consumers leave. */
const cleanups: Array<() => Promise<void>> = []

afterAll(async () => {
  for (const c of cleanups) await c().catch(() => {})
  for (const s of servers) await s.kill().catch(() => {})
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Resolves to 'timeout' instead of hanging (a disconnect that never ends is a finding, not a hung test). */
async function within<T>(ms: number, p: Promise<T>): Promise<T | 'timeout'> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const t = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), ms) })
  try {
    return await Promise.race([p, t])
  } finally {
    clearTimeout(timer)
  }
}

interface RunResult {
  findings: Findings
  kills: number
  catchUpMs: number | null
  maxResumeMs: number
  stalls: number
  producerErrors: Tally
  consumerCrashes: Tally
  http: Map<string, Tally>
  handledAgain: number
  disconnectTimeouts: number
  /** An example message per producer and rejection code. */
  examples: string[]
  log: string[]
}

async function oneRun(run: number): Promise<RunResult> {
  // The kill schedule has its own random sequence, so a seed replays it whatever the producers do.
  const random = rng(seed + run * 1_000)
  const log: string[] = []
  const t0 = Date.now()
  const at = () => Date.now() - t0
  const dir = mkdtempSync(join(tmpdir(), 'edgelog-edge-chaos-'))
  dirs.push(dir)
  const server = new EdgeServer(dir, t0)
  servers.push(server)
  await server.start()
  const topic = `chaos-${run}`
  const groupId = `chaos-group-${run}`
  const clientFor = (role: string) => connect({ url: server.url, fetch: server.fetchFor(role), clientId: role })

  const admin = clientFor('admin').admin()
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] })

  const handled = newHandled(PARTITIONS)
  const members = [
    new GroupWorkload(clientFor('consumer0'), 0, 'eachMessage', { topic, groupId, handled, t0 }),
    new GroupWorkload(clientFor('consumer1'), 1, 'eachBatch', { topic, groupId, handled, t0 }),
  ]
  const stops: Array<() => void> = []
  cleanups.push(async () => {
    for (const stop of stops) stop()
    for (const m of members) await within(5_000, m.consumer.disconnect().catch(() => {}))
  })
  await Promise.all(members.map((m) => m.start()))

  const producers = PRODUCERS.map((spec) => new ProducerWorkload(clientFor(`producer${spec.index}`), spec, {
    run, topic, partitions: PARTITIONS, recordsPerSend: RECORDS_PER_SEND, random: rng(seed + run * 1_000 + 1 + spec.index), t0,
  }))
  for (const p of producers) await p.connect()
  let stopProducing = false
  stops.push(() => { stopProducing = true })
  const producing = producers.map((p) => p.run(() => stopProducing))

  // Committed offsets, read back every second (failures while the server is down are expected).
  const samples: CommitSample[] = []
  let sampling = true
  stops.push(() => { sampling = false })
  const sampler = (async () => {
    while (sampling) {
      try {
        const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] })
        const offsets: number[] = []
        for (const { partition, offset } of entry?.partitions ?? []) offsets[partition] = Number(offset)
        samples.push({ t: at(), offsets })
      } catch { /* down */ }
      await sleep(1_000)
    }
  })()

  // The chaos: SIGKILL at random moments, a random time down, a restart on the same dir.
  for (let k = 0; k < KILLS; k++) {
    const gap = k === 0 ? FIRST_GAP_MS : GAP_MS
    await sleep(gap[0] + random() * (gap[1] - gap[0]))
    await server.kill()
    const down = DOWN_MS[0] + random() * (DOWN_MS[1] - DOWN_MS[0])
    log.push(`kill ${k + 1} at ${server.downs.at(-1)} ms (${producers.map((p) => p.sends.length).join('/')} sends begun), down ${Math.round(down)} ms`)
    await sleep(down)
    await server.start()
    log.push(`  up again at ${server.ups.at(-1)} ms on ${server.url}`)
  }
  const lastUp = server.ups.at(-1)!
  await sleep(TAIL_MS)
  stopProducing = true
  const settled = await within(120_000, Promise.all(producing))
  if (settled === 'timeout') log.push('producers: some sends had not settled 120 s after the end of production')
  log.push(`production ended at ${at()} ms`)

  // The log as stored.
  const reader = new HttpBroker({ url: server.url, fetch: server.fetchFor('reader') })
  const stored: StoredRecord[][] = []
  for (let p = 0; p < PARTITIONS; p++) stored.push((await withRetries(`read p${p}`, () => readPartition(reader, topic, p))).records)

  // The group must reach every stored record by the deadline.
  const unread = () => stored.reduce((n, records, p) => n + records.filter((r) => !handled.firstAt[p].has(r.offset)).length, 0)
  let catchUpMs: number | null = null
  while (at() < lastUp + DEADLINE_MS) {
    if (unread() === 0) {
      catchUpMs = Math.max(...handled.times.map((t) => t.at(-1)?.t ?? 0)) - lastUp
      break
    }
    await sleep(250)
  }
  if (catchUpMs === null) log.push(`group: ${unread()} stored records unread ${DEADLINE_MS} ms after the last restart`)
  // Let the last automatic commits land, then one more sample.
  await sleep(1_500)
  sampling = false
  await sampler
  try {
    const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] })
    const offsets: number[] = []
    for (const { partition, offset } of entry?.partitions ?? []) offsets[partition] = Number(offset)
    samples.push({ t: at(), offsets })
    log.push(`committed at the end: ${offsets.map((o, p) => `p${p}=${o}/${stored[p].length}`).join(' ')}`)
  } catch (error) {
    log.push(`committed at the end: fetchOffsets failed: ${(error as Error).message}`)
  }
  const end = at()
  let groupState = ''
  try {
    const { groups: [g] } = await admin.describeGroups([groupId])
    groupState = `${g.state}, members ${g.members.map((m) => `${m.clientId}:${JSON.stringify(m.memberAssignment)}`).join(' ')}`
  } catch (error) {
    groupState = `describeGroups failed: ${(error as Error).message}`
  }

  const findings = check({ run, partitions: PARTITIONS, stored, sends: producers.flatMap((p) => p.sends), handled, samples })
  const resume = resumeTimes(handled, stored, server.ups, server.downs, end)
  let maxResumeMs = 0
  let stalls = 0
  resume.forEach((row, k) => {
    log.push(`restart ${k + 1} (up at ${server.ups[k + 1]} ms): each partition handled again after ${row.map((v, p) => `p${p}=${v === -1 ? 'n/a' : v === null ? 'STALLED' : `${v}ms`}`).join(' ')}`)
    for (const v of row) {
      if (v === null) stalls++
      else if (v > maxResumeMs) maxResumeMs = v
    }
  })
  log.push(`group at the end: ${groupState}`)
  for (let p = 0; p < PARTITIONS; p++) {
    const times = handled.times[p]
    const lastHandled = times.at(-1)
    log.push(`  p${p}: stored ${stored[p].length}, handled ${handled.firstAt[p].size} distinct, last handled at ${lastHandled ? `${lastHandled.t} ms by member ${lastHandled.member}` : 'never'}`)
  }
  for (const e of members.flatMap((m) => m.events).sort((a, b) => a.t - b.t)) log.push(`  ${e.t} ms member ${e.member}: ${e.what}`)

  // Tear down: consumers first (they leave the group), then producers, then the server.
  let disconnectTimeouts = 0
  for (const m of members) {
    if (await within(15_000, m.consumer.disconnect().catch(() => {})) === 'timeout') {
      disconnectTimeouts++
      log.push(`member ${m.member}: disconnect did not finish within 15 s`)
    }
  }
  for (const p of producers) await within(10_000, p.disconnect().catch(() => {}))
  await reader.close()
  await server.kill()
  rmSync(dir, { recursive: true, force: true })

  const producerErrors = new Tally()
  for (const p of producers) for (const [k, v] of p.rejections.counts) producerErrors.add(`p${p.spec.index}:${k}`, v)
  const consumerCrashes = new Tally()
  for (const m of members) for (const [k, v] of m.crashes.counts) consumerCrashes.add(`m${m.member}:${k}`, v)
  return {
    findings, kills: KILLS, catchUpMs, maxResumeMs, stalls, producerErrors, consumerCrashes, http: server.http,
    handledAgain: handled.again, disconnectTimeouts, log,
    examples: producers.flatMap((p) => [...p.examples].map(([code, message]) => `producer ${p.spec.index} ${code}: ${message}`)),
  }
}

/** Tallies merged by their name without the role prefix (`p2:NETWORK_EXCEPTION` → NETWORK_EXCEPTION). */
function byCode(tallies: Tally[]): string {
  const all = new Tally()
  for (const t of tallies) for (const [k, v] of t.counts) all.add(k.replace(/^[pm]\d+:/, ''), v)
  return all.toString()
}

describe('edge chaos: wrangler dev SIGKILLed under idempotent producers and a consumer group', () => {
  it('keeps every acknowledged record once and in order, and the group reads them all', async () => {
    console.log(`edge chaos: seed ${seed} (EDGELOG_CHAOS_SEED=${seed} replays it)`)
    const results: RunResult[] = []
    for (let run = 0; run < RUNS; run++) {
      const r = await oneRun(run)
      results.push(r)
      const f = r.findings.figures
      const lines = [
        `edge chaos run ${run + 1}/${RUNS}: ${r.kills} kills, ${f.sends} sends (${f.acknowledgedSends} acknowledged, ${f.rejectedSends} rejected), ${f.stored} records stored`,
        `  producer rejections: ${r.producerErrors}`,
        ...r.examples.map((e) => `    e.g. ${e}`),
        `  consumer crashes: ${r.consumerCrashes}`,
        ...[...r.http].map(([role, t]) => `  http ${role}: ${t}`),
        ...r.log.map((l) => `  ${l}`),
      ]
      for (const [name, list] of Object.entries(r.findings.details)) {
        lines.push(`  ${name}:`)
        for (const l of list) lines.push(`    ${l}`)
      }
      console.log(lines.join('\n'))
    }
    const sum = (pick: (f: Findings['figures']) => number) => results.reduce((n, r) => n + pick(r.findings.figures), 0)
    const catchUps = results.map((r) => r.catchUpMs)
    const totals = {
      lost: sum((f) => f.lost), misplaced: sum((f) => f.misplaced), duplicated: sum((f) => f.duplicated), outOfOrder: sum((f) => f.outOfOrder),
      rejectedTwice: sum((f) => f.rejectedTwice), foreign: sum((f) => f.foreign), handledMismatch: sum((f) => f.handledMismatch),
      commitAhead: sum((f) => f.commitAhead), groupUnread: sum((f) => f.groupUnread),
    }
    report('edge', {
      runs: RUNS, kills: results.reduce((n, r) => n + r.kills, 0), seed,
      acknowledged: sum((f) => f.acknowledged), ackedNoOffset: sum((f) => f.ackedNoOffset), rejectedSends: sum((f) => f.rejectedSends),
      rejectedRecords: sum((f) => f.rejectedRecords), rejectedStored: sum((f) => f.rejectedStored), rejectedPartsStored: sum((f) => f.rejectedPartsStored), stored: sum((f) => f.stored),
      ...totals,
      catchUpMs: catchUps.every((c) => c !== null) ? Math.max(...(catchUps as number[])) : 'never',
      maxResumeMs: Math.max(...results.map((r) => r.maxResumeMs)), stalledPartitionRestarts: results.reduce((n, r) => n + r.stalls, 0),
      handledAgain: results.reduce((n, r) => n + r.handledAgain, 0),
      consumerCrashes: results.reduce((n, r) => n + r.consumerCrashes.total(), 0),
      disconnectTimeouts: results.reduce((n, r) => n + r.disconnectTimeouts, 0),
      untypedRejections: results.reduce((n, r) => n + [...r.producerErrors.counts].filter(([k]) => k.includes('untyped')).reduce((m, [, v]) => m + v, 0), 0),
      producerErrors: byCode(results.map((r) => r.producerErrors)),
      consumerHttpErrors: byCode(results.flatMap((r) => [...r.http].filter(([role]) => role.startsWith('consumer')).map(([, t]) => t))),
    })
    expect(totals).toEqual({
      lost: 0, misplaced: 0, duplicated: 0, outOfOrder: 0, rejectedTwice: 0, foreign: 0, handledMismatch: 0, commitAhead: 0, groupUnread: 0,
    })
    for (const r of results) expect(Object.keys(r.findings.details).filter((k) => k === 'offsets' || k === 'unsettled')).toEqual([])
  })
})
