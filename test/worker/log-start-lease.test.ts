/**
 * The log-start leases behind cached reads (worker/objects/log-start-lease.ts), on a fake clock:
 * what raises the log start waits out every lease granted before it, grants none meanwhile, and
 * a new instance waits out what the one before it recorded.
 */
import { describe, expect, it } from 'vitest'
import { LogStartLeases, type LeaseRecord } from '../../worker/objects/log-start-lease.ts'

function setup(stored?: number) {
  let now = 100_000
  const slept: number[] = []
  const record: LeaseRecord & { value?: number; saves: number } = {
    value: stored, saves: 0,
    load: async () => record.value,
    save: async (until) => { record.value = until; record.saves++ },
  }
  const make = () => new LogStartLeases(1000, 250, record, () => now, async (ms) => { slept.push(ms); now += ms })
  return { make, record, slept, advance: (ms: number) => { now += ms }, now: () => now }
}

describe('log-start leases', () => {
  it('a change of the log start waits until the last lease granted has run out, plus the margin', async () => {
    const t = setup()
    const leases = t.make()
    expect(await leases.grant(5)).toEqual({ ms: 1000, floor: 5 })
    t.advance(300)
    await leases.exclusive(async () => {})
    expect(t.slept).toEqual([950])
  })

  it('no wait when no lease is live, and none granted while a change waits or runs', async () => {
    const t = setup()
    const leases = t.make()
    await leases.exclusive(async () => {})
    expect(t.slept).toEqual([])
    let during: unknown = 'unset'
    await leases.exclusive(async () => { during = await leases.grant(0) })
    expect(during).toBeUndefined()
    expect(await leases.grant(7)).toEqual({ ms: 1000, floor: 7 })
  })

  it('records ahead, once per 10 s of leases, before the lease is handed out', async () => {
    const t = setup()
    const leases = t.make()
    await leases.grant(0)
    expect(t.record.saves).toBe(1)
    expect(t.record.value).toBe(t.now() + 1000 + 10_000)
    t.advance(5_000)
    await leases.grant(0)
    expect(t.record.saves).toBe(1)
    t.advance(6_000)
    await leases.grant(0)
    expect(t.record.saves).toBe(2)
  })

  it('a new instance waits out the leases the instance before it recorded; one that slept does not', async () => {
    const t = setup()
    await t.make().grant(0)
    const recorded = t.record.value!
    t.advance(200) // the first instance dies; the next one starts at once
    await t.make().exclusive(async () => {})
    expect(t.slept).toEqual([recorded + 250 - (recorded - 11_000 + 200)])
    t.slept.length = 0
    t.advance(60_000) // evicted after being idle: the record is long past
    await t.make().exclusive(async () => {})
    expect(t.slept).toEqual([])
  })
})
